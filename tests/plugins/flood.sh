#!/bin/sh
# Test plugin: floods its output. "flood.sh N": a first line, then N
# bytes, exit 0. "flood.sh forever": never stops writing.
echo "FLOOD start"
if [ "$1" = forever ]; then
	exec yes flood
fi
yes 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' | head -c "$1"
exit 0
