"""The domains of the TIE Break map, with their names in French and English.

A catalog product's `domain` must be one of these (`tiebreak catalog check` says so, naming the
file and the product), and every page and export shows these names: a new domain is added here,
once, for the catalog, the server and the exports alike.
"""

from __future__ import annotations

from typing import Final

DOMAINS: Final[dict[str, tuple[str, str]]] = {
    "acces-distant": ("Accès distant", "Remote access"),
    "annuaire-identite": ("Annuaire et identité", "Directory and identity"),
    "base-de-donnees": ("Bases de données", "Databases"),
    "bureautique": ("Bureautique", "Office suite"),
    "cdn": ("Diffusion de contenu (CDN)", "Content delivery (CDN)"),
    "certificats": ("Certificats", "Certificates"),
    "collaboration": ("Collaboration", "Collaboration"),
    "decisionnel": ("Décisionnel (BI)", "Business intelligence"),
    "developpement": ("Développement", "Development"),
    "dns": ("DNS", "DNS"),
    "emailing": ("Envoi de courriels en masse", "Bulk email"),
    "gestion-de-parc": ("Gestion de parc", "Asset management"),
    "gestion-de-projet": ("Gestion de projet", "Project management"),
    "hebergement-cloud": ("Hébergement et cloud", "Hosting and cloud"),
    "impression": ("Impression", "Printing"),
    "mail-securite": ("Sécurité de la messagerie", "Mail security"),
    "messagerie": ("Messagerie", "Email"),
    "metier": ("Logiciels métier", "Business software"),
    "multimedia": ("Multimédia", "Multimedia"),
    "navigateur": ("Navigateur", "Browser"),
    "reseau": ("Réseau", "Network"),
    "sauvegarde": ("Sauvegarde", "Backup"),
    "securite": ("Sécurité", "Security"),
    "stockage": ("Stockage", "Storage"),
    "supervision": ("Supervision", "Monitoring"),
    "systeme": ("Système d'exploitation", "Operating system"),
    "telephonie": ("Téléphonie", "Telephony"),
    "virtualisation": ("Virtualisation", "Virtualisation"),
    "visioconference": ("Visioconférence", "Video conferencing"),
    "web": ("Web", "Web"),
    "autre": ("Autre", "Other"),
    # The engine's vendor-level findings (a program known by its Publisher or Team ID only).
    "non-identifie": ("Produit non identifié", "Unidentified product"),
}
"""DOMAINS[domain] = (French name, English name)."""
