#!/bin/sh
# Test plugin: hangs. Writes its pid and its child's pid to file $1 so a
# test can see that both are gone after the check killed the group.
echo "hanging"
sleep 60 &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
wait
