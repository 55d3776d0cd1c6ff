"""The directory probe: Active Directory, Samba AD, OpenLDAP and other LDAP directories.

Modules: `connection` (TLS, bind, paged streamed searches, clear errors) and `probe` (what is read
and emitted).
"""
