#!/bin/sh
# Test plugin: prints nothing, exits 0.
exit 0
