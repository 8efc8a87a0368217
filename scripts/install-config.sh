#!/bin/sh
# install-config.sh SRC DEST: install the configuration file SRC as DEST,
# mode 0644, without ever overwriting an administrator's file, as distro
# packagers expect of `make install`:
#
#   DEST missing                 SRC is installed as DEST
#   DEST the same as SRC         nothing to do
#   DEST differs (edited, or     DEST is kept; SRC is installed as DEST.new
#   an older default)            and a line says so, to merge by hand
#
# A DEST that is not a regular file (a directory, a link) is refused rather
# than written through.

set -eu

[ $# -eq 2 ] || { echo "usage: $0 SRC DEST" >&2; exit 2; }
src=$1
dest=$2

[ -f "$src" ] || { echo "install-config.sh: $src is missing" >&2; exit 1; }
if [ -L "$dest" ] || { [ -e "$dest" ] && [ ! -f "$dest" ]; }; then
	echo "install-config.sh: $dest exists and is not a regular file; not touching it" >&2
	exit 1
fi
if [ ! -e "$dest" ]; then
	install -m 0644 "$src" "$dest"
	exit 0
fi
if cmp -s "$src" "$dest"; then
	exit 0
fi
if [ -L "$dest.new" ] || { [ -e "$dest.new" ] && [ ! -f "$dest.new" ]; }; then
	echo "install-config.sh: $dest.new exists and is not a regular file; not touching it" >&2
	exit 1
fi
install -m 0644 "$src" "$dest.new"
echo " KEEP    $dest (it differs from this build's; the new default is $dest.new)"
