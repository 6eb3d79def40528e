#!/bin/sh
# Nagios-style test plugin: OK (exit 0), echoing its arguments.
echo "OK - args: $*| x=1"
echo "second line"
exit 0
