#!/bin/sh
# The oracle bench's public corpora (fixtures/README.md, "Oracle corpora"): images of two Debian packages,
# unchanged, into bench/corpora/{photos,graphics}. Needs apt-get (Debian bookworm's archive) and dpkg-deb.
# Usage: sh bench/fetch-corpora.sh, then npm run bench:oracle -- --corpus bench/corpora/photos (or graphics).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download plasma-workspace-wallpapers=4:5.27.5-2 gnome-user-docs=43.0-2
for deb in *.deb; do dpkg-deb -x "$deb" x; done
rm -rf "$here/corpora"
mkdir -p "$here/corpora/photos" "$here/corpora/graphics"
# KDE Plasma's wallpaper previews: 400×250 JPEG photographs, as a site would show them.
for shot in x/usr/share/wallpapers/*/contents/screenshot.jpg; do
  name=$(basename "$(dirname "$(dirname "$shot")")")
  cp "$shot" "$here/corpora/photos/$name.jpg"
done
# GNOME Help's figures: screenshots, diagrams and icons, some transparent.
cp x/usr/share/help/C/gnome-help/figures/*.png "$here/corpora/graphics/"
echo "photos: $(ls "$here/corpora/photos" | wc -l), graphics: $(ls "$here/corpora/graphics" | wc -l)"
