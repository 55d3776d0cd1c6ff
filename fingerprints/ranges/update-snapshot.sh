#!/bin/sh
# Regenerates fingerprints/ranges/ from the copies in /work/shared/data (see PROVENANCE.md there).
set -e
D=${DATA:-/work/shared/data}
OUT=${OUT:-fingerprints/ranges}
T=".venv/bin/tiebreak catalog update-ranges --output $OUT"
$T --provider aws --file "$D/seligman-aws-ip-ranges/ip-ranges.json" \
  --origin "copie de / copy of https://ip-ranges.amazonaws.com/ip-ranges.json, miroir / mirror github.com/seligman/aws-ip-ranges @ 7a942b53d75c61d9c3666d7b945b4d4561d7ef8d"
$T --provider azure --file "$D/femueller-cloud-ip-ranges/microsoft-azure-ip-ranges.json" --published 2025-07-22 \
  --origin "copie de / copy of Microsoft ServiceTags_Public (Download Center, changeNumber 363), miroir / mirror github.com/femueller/cloud-ip-ranges @ a7f298dfaefc136ba5ef7146c903f1b15591185f; le fichier ne porte pas de date : date du commit du miroir / the file carries no date: the mirror commit's date (2025-07-22)"
$T --provider google --file "$D/femueller-cloud-ip-ranges/google-cloud-ip-ranges.json" \
  --origin "copie de / copy of https://www.gstatic.com/ipranges/cloud.json, miroir / mirror github.com/femueller/cloud-ip-ranges @ e0dfd998e5247bb01d293ca55a2d944c5f084687"
$T --provider oracle --file "$D/femueller-cloud-ip-ranges/oracle-cloud-ip-ranges.json" \
  --origin "copie de / copy of https://docs.oracle.com/iaas/tools/public_ip_ranges.json, miroir / mirror github.com/femueller/cloud-ip-ranges @ 8b8719cee0ade28a6991babf16f123d218af7fdf"
$T --provider cloudflare --file "$D/femueller-cloud-ip-ranges/cloudflare-v4-ip-ranges.txt" \
  --file "$D/femueller-cloud-ip-ranges/cloudflare-v6-ip-ranges.txt" --published 2024-10-29 \
  --origin "copie de / copy of https://www.cloudflare.com/ips-v4 et / and https://www.cloudflare.com/ips-v6, miroir / mirror github.com/femueller/cloud-ip-ranges @ 54d92d4844a692f30ae77b07a166bb3809a1606e (ips-v4, 2024-10-29) et / and 0a2c8bab0952dfe4ef678691b5c0fce83090f280 (ips-v6, 2023-10-11); sans date : dernier changement copié / undated: the latest change mirrored (2024-10-29)"
