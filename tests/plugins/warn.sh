#!/bin/sh
# Nagios-style test plugin: WARNING (exit 1).
echo "WARNING - load 7"
exit 1
