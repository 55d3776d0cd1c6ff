"""Names shown for the values of the inventory's vocabularies, in French and English.

Built once: a page of 300 findings looks them up thousands of times.
"""

from __future__ import annotations

from typing import Final

from inventory.domains import DOMAINS

_PAIRS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "jurisdiction": {
        "eu": ("UE", "EU"),
        "europe-other": ("Europe hors UE", "Europe, non-EU"),
        "non-eu": ("Hors Europe", "Non-European"),
        "community": ("Communauté", "Community"),
        "unknown": ("Inconnue", "Unknown"),
    },
    "category": {
        "infrastructure": ("Infrastructure", "Infrastructure"),
        "poste-de-travail": ("Poste de travail", "Workstation"),
        "logiciel": ("Logiciels", "Software"),
    },
    "state": {
        "pending": ("à décider", "to decide"),
        "confirmed": ("confirmé", "confirmed"),
        "rejected": ("faux positif", "false positive"),
        "corrected": ("corrigé", "corrected"),
    },
    "status": {
        "draft": ("brouillon", "draft"),
        "validated": ("validé", "validated"),
        "rejected": ("rejeté", "rejected"),
    },
    "confidence": {"strong": ("forte", "strong"), "weak": ("faible", "weak")},
    "usage": {
        "current": ("actuel", "current"),
        "partial": ("partiel", "partial"),
        "former": ("ancien", "former"),
    },
    "criticality": {
        "low": ("faible", "low"),
        "medium": ("moyenne", "medium"),
        "high": ("haute", "high"),
        "critical": ("critique", "critical"),
    },
    "replaceability": {
        "easy": ("facile", "easy"),
        "moderate": ("moyenne", "moderate"),
        "hard": ("difficile", "hard"),
    },
    "factor": {
        "control": ("contrôle", "control"),
        "openness": ("ouverture", "openness"),
        "criticality": ("criticité", "criticality"),
        "replaceability": ("remplaçabilité", "replaceability"),
        "money": ("argent", "money"),
    },
    "domain": DOMAINS,
    "org_type": {
        "commune": ("Commune", "Municipality"),
        "epci": ("EPCI (intercommunalité)", "Inter-municipal body (EPCI)"),
        "departement": ("Département", "Département"),
        "region": ("Région", "Region"),
        "other": ("Autre", "Other"),
    },
    "role": {
        "admin": ("administrateur", "admin"),
        "reviewer": ("relecteur", "reviewer"),
        "viewer": ("lecteur", "viewer"),
    },
}

_UI: Final[dict[str, tuple[str, str]]] = {
    "vendor": ("Éditeur", "Vendor"),
    "controlled_by": ("Contrôlé par", "Controlled by"),
    "jurisdiction": ("Juridiction", "Jurisdiction"),
    "exposures": ("Expositions", "Exposures"),
    "none_known": ("aucune connue", "none known"),
    "confidence": ("Confiance", "Confidence"),
    "usage": ("Usage", "Usage"),
    "where": ("Où", "Where"),
    "version": ("version", "version"),
    "criticality": ("Criticité", "Criticality"),
    "annual_cost": ("Coût annuel", "Annual cost"),
    "licences": ("Utilisateurs ou licences", "Users or licences"),
    "accounts": ("Comptes actifs (annuaire)", "Enabled accounts (directory)"),
    "devices": ("Postes", "Workstations"),
    "servers": ("Serveurs", "Servers"),
    "unsupported": ("hors support", "out of support"),
    "partial": ("lecture incomplète", "incomplete read"),
    "release": ("Version", "Release"),
    "machines": ("Machines", "Machines"),
    "support_end": ("Fin de support", "End of support"),
    "ended": ("terminé", "ended"),
    "replaceability": ("Remplaçabilité", "Replaceability"),
    "note": ("Note", "Note"),
    "detected_as": ("Détecté comme", "Detected as"),
    "reason": ("Raison", "Reason"),
    "decided_by": ("Décidé par", "Decided by"),
    "evidence": ("Observations", "Evidence"),
    "on": ("sur", "on"),
    "score": ("Score de dépendance", "Dependency score"),
    "factor": ("Facteur", "Factor"),
    "value": ("Valeur", "Value"),
    "weight": ("Poids", "Weight"),
    "why": ("Pourquoi", "Why"),
    "alternatives": ("Alternatives", "Alternatives"),
    "more": ("Corriger, compléter, historique…", "Correct, complete, history…"),
    "confirm": ("Confirmer", "Confirm"),
    "reject_reason": ("Raison du faux positif", "Why it is a false positive"),
    "reject": ("Rejeter (faux positif)", "Reject (false positive)"),
    "carried": ("décision antérieure", "earlier decision"),
    "carried_title": (
        "Décision prise sur un inventaire précédent",
        "Decision made on an earlier inventory",
    ),
    "new": ("nouveau", "new"),
    "added": ("ajouté à la main", "added by hand"),
    "classified": ("classé à la main", "classified by hand"),
}

UI: Final[dict[str, dict[str, str]]] = {
    language: {name: pair[index] for name, pair in _UI.items()}
    for index, language in enumerate(("fr", "en"))
}
"""UI[language][name]: words a page repeats for every finding, translated once."""

LABELS: Final[dict[str, dict[str, dict[str, str]]]] = {
    language: {
        vocabulary: {value: pair[index] for value, pair in values.items()}
        for vocabulary, values in _PAIRS.items()
    }
    for index, language in enumerate(("fr", "en"))
}
"""LABELS[language][vocabulary][value]: the name to show."""
