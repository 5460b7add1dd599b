#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The suite's output before and after a change, byte for byte: TAP (stdout),
# stderr and exit status of `hmm-test smoke` in private, generic and coherent
# mode, with and without --trace, for seeds 1 and 7.
#   bench/same-output.sh record DIR   # on the commit to compare against
#   bench/same-output.sh check DIR    # after the change: diff against DIR
set -e
what=$1 dir=$2
if [ "$what" != record ] && [ "$what" != check ] || [ -z "$dir" ]; then
	echo "usage: $0 record|check DIR" >&2
	exit 2
fi
root=$(dirname "$(dirname "$(readlink -f "$0")")")
out=$dir
[ "$what" = check ] && out=$(mktemp -d)
mkdir -p "$out"
for seed in 1 7; do
	for mode in private generic coherent; do
		case $mode in
		private) a= ;;
		generic) a="0x100000000 0x140000000" ;;
		coherent) a="--coherent 0x100000000 0x110000000" ;;
		esac
		for tr in "" --trace; do
			n=$mode.s$seed${tr:+.trace}
			st=0
			"$root/bin/hmm-test" smoke $a --seed $seed $tr --format tap >"$out/$n.out" 2>"$out/$n.err" || st=$?
			echo "exit $st" >>"$out/$n.out"
		done
	done
done
[ "$what" = record ] && exit 0
if diff -r "$dir" "$out"; then
	echo "same output: $(ls "$out" | wc -l) files"
	rm -r "$out"
else
	echo "output differs (new output in $out)" >&2
	exit 1
fi
