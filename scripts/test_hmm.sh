#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The interface of the kernel's tools/testing/selftests/mm/test_hmm.sh (with
# the seed's "smoke <spm_addr_dev0> <spm_addr_dev1>", 000 patch 13), over the
# simulation: instead of modprobe and the hmm-tests binary it runs
# `hmm-test smoke`, which loads the simulated test_hmm, runs the cases and
# unloads it. Unlike the kernel's script it exits with the test result (0
# pass, 1 fail), and with 1 after printing the usage for a wrong command
# line; with no arguments it shows the usage and exits 0, as the original.

TEST_NAME="test_hmm"
# Through a symlink (an installed bin, a link in $PATH) too: the real file's directory.
HMM_TEST="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../bin/hmm-test"

usage()
{
	echo -n "Usage: $0"
	echo
	echo "Example usage:"
	echo
	echo "# Shows help message"
	echo "./${TEST_NAME}.sh"
	echo
	echo "# Smoke testing"
	echo "./${TEST_NAME}.sh smoke"
	echo
	echo "# Smoke testing with SPM enabled"
	echo "./${TEST_NAME}.sh smoke <spm_addr_dev0> <spm_addr_dev1>"
	echo
	echo "# Smoke testing with SPM as 6.12's DEVICE_COHERENT devices 2 and 3"
	echo "./${TEST_NAME}.sh smoke <spm_addr_dev0> <spm_addr_dev1> spm_type=coherent"
	echo
	echo "# Smoke testing with SPM as seed 004's DEVICE_PUBLIC devices 2 and 3"
	echo "./${TEST_NAME}.sh smoke <spm_addr_dev0> <spm_addr_dev1> spm_type=public"
	echo
}

run_smoke()
{
	echo "Running smoke test. Note, this test provides basic coverage."
	if [ $# -eq 0 ]; then
		"$HMM_TEST" smoke
	elif [ $# -eq 2 ]; then
		"$HMM_TEST" smoke "$1" "$2"
	elif [ $# -eq 3 ] && [ "$3" = "spm_type=coherent" ]; then
		"$HMM_TEST" smoke --coherent "$1" "$2"
	elif [ $# -eq 3 ] && [ "$3" = "spm_type=public" ]; then
		"$HMM_TEST" smoke --public "$1" "$2"
	elif [ $# -eq 3 ] && [ "$3" = "spm_type=generic" ]; then
		"$HMM_TEST" smoke "$1" "$2"
	else
		echo "Missing module parameters. Make sure pass"\
		     "spm_addr_dev0 and spm_addr_dev1" >&2
		usage >&2
		exit 1
	fi
}

if [ $# -eq 0 ]; then
	usage
	exit 0
fi
if [ "$1" = "smoke" ]; then
	shift
	run_smoke "$@"
	exit $?
fi
usage >&2
exit 1
