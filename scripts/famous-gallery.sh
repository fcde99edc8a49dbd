#!/bin/sh
# make gallery without the data folder: the FAMOUS_TOP most famous people from Wikidata with a freely
# licensed Commons portrait (`lookalike gallery download wikidata`), every photo credited.
# Usage: famous-gallery.sh LOOKALIKE GALLERY TOP   (LOOKALIKE: the lookalike command to run)
# Wikimedia asks every script to say who runs it, so a contact goes into the User-Agent:
# LOOKALIKE_CONTACT if set, else git's user.email, else we stop before asking anything.
set -eu
lookalike=$1
gallery=$2
top=$3
contact=${LOOKALIKE_CONTACT:-}
if [ -z "$contact" ]; then
    contact=$(git config user.email 2>/dev/null || true)
fi
if [ -z "$contact" ]; then
    cat >&2 <<MESSAGE
make gallery: there is no data folder (${LOOKALIKE_DATA_DIR:-../shared/data}), so the gallery is
downloaded: the $top most famous people from Wikidata, with freely licensed portraits from
Wikimedia Commons. Wikimedia asks every script to say who runs it (an e-mail address or a web
page, sent in the User-Agent), and none is set: LOOKALIKE_CONTACT is empty and git has no
user.email. Set one and run again, e.g.:

    make run LOOKALIKE_CONTACT=you@example.org
MESSAGE
    exit 2
fi
echo "gallery: no data folder; downloading the $top most famous people from Wikidata and Wikimedia Commons"
LOOKALIKE_CONTACT=$contact exec "$lookalike" gallery download wikidata --top "$top" --out "$gallery"
