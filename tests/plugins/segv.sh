#!/bin/sh
# Test plugin: dies by SIGSEGV after one line of output.
echo "about to crash"
kill -SEGV $$
