#!/usr/bin/env bash
# Fetch the newest PgBouncer Debian has (trixie's, 1.24 today) into DIR without touching the system, and print
# the path of a wrapper that runs it. Debian bookworm ships 1.18 and bookworm-backports has no pgbouncer; trixie's
# binary needs glibc 2.38, so trixie's C library is unpacked beside it and the wrapper runs PgBouncer through
# that library's own loader. Only Debian's archive is used, through apt with a private configuration.
# Usage: PGBOUNCER_NEWEST=$(bash scripts/newest-pgbouncer.sh /tmp/pgbouncer-newest) python -m pytest ...
set -euo pipefail
dir=${1:?usage: newest-pgbouncer.sh DIR}
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/root"
dir=$(cd "$dir" && pwd)
if [ ! -x "$dir/pgbouncer" ]; then
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    > "$dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq >&2
  (cd "$dir" && apt-get "${apt_opts[@]}" download pgbouncer libc6 >&2)
  for deb in "$dir"/pgbouncer_*.deb "$dir"/libc6_*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  cat > "$dir/pgbouncer" <<WRAPPER
#!/bin/sh
exec "$dir/root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$dir/root/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu" "$dir/root/usr/sbin/pgbouncer" "\$@"
WRAPPER
  chmod -R a+rX "$dir" && chmod +x "$dir/pgbouncer"
fi
"$dir/pgbouncer" --version >&2
echo "$dir/pgbouncer"
