"""The `fleet` probe: workstation fleets read from the inventories GLPI, FusionInventory, GLPI Agent
and OCS Inventory NG already keep, as counted observations on the host probe's channels.

- `settings`: what `[fleet]` asks for (folders, a GLPI server, the pseudonym key);
- `machine`: one machine as any source describes it, and how its OS, programs and hypervisor are
  normalised onto the host probe's channels;
- `xmlinventory`, `jsoninventory`: FusionInventory / GLPI / OCS XML and GLPI Agent JSON files;
- `folder`: a folder of inventory files (gzip and zlib accepted), one note per unusable file;
- `glpi`: a GLPI server's REST API (`apirest.php`), read-only;
- `fleet`: machines pseudonymised and aggregated into the observations the probe emits;
- `probe`: the probe itself.
"""
