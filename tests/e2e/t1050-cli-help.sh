#!/bin/bash
# SPDX-License-Identifier: MIT
# t1050-cli-help: 'mailbackup help [COMMAND]' beside 'COMMAND --help', the
# CLI's own hint for a missing configuration, and the bash completion: it loads in bash, completes the command names and a
# command's options, and meson install puts it where bash-completion looks.
. "$(dirname "$0")/lib-test.sh"

COMPLETION=$MB_SRCDIR/bin/mailbackup.bash-completion

# complete WORD...: the completions bash offers for the last WORD, sorted
complete_words() {
	bash --norc --noprofile -c '
		. "$1" || exit 1
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_mailbackup
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort
	' sh "$COMPLETION" "$MB_BIN" "$@"
}

test_expect_success 'help COMMAND prints what COMMAND --help prints' '
	"$MB_BIN" help restore >help.out &&
	"$MB_BIN" restore --help >dashdash.out &&
	test_cmp dashdash.out help.out &&
	test_grep "^usage: mailbackup \[-c FILE\] restore SNAPSHOT" help.out
'

test_expect_success 'help without a command prints the usage, exit 0' '
	"$MB_BIN" help >usage.out &&
	test_grep "^commands:" usage.out &&
	test_grep "mailbackup help \[COMMAND\]" usage.out
'

test_expect_success 'help of an unknown command is a usage error (exit 2)' '
	test_must_fail --exit 2 "$MB_BIN" help nosuch 2>err &&
	test_grep "unknown command .nosuch." err
'

test_expect_success 'help needs no configuration' '
	MAILBACKUP_CONFIG=$SCRATCH/none.conf "$MB_BIN" help backup >out &&
	test_grep "Take a snapshot" out
'

test_expect_success 'a missing configuration: the CLI says how to name one (exit 2)' '
	test_must_fail --exit 2 "$MB_BIN" -c "$SCRATCH/none.conf" snapshots 2>err &&
	test_grep "configuration file .*none.conf. not found: pass -c FILE or set MAILBACKUP_CONFIG" err
'

test_expect_success 'the completion loads in bash without output' '
	bash --norc --noprofile -c ". \"$COMPLETION\" && complete -p mailbackup" \
		>load.out 2>load.err &&
	test_must_be_empty load.err &&
	test_grep "_mailbackup mailbackup" load.out
'

test_expect_success 'it completes every command name' '
	complete_words "" >cmds &&
	"$MB_BIN" --help | sed -n "s/^  mailbackup \(\[-c FILE\] \)\{0,1\}\([a-z-]*\).*/\2/p" |
		LC_ALL=C sort >expect &&
	test_cmp expect cmds &&
	test_grep -x backup cmds &&
	test_grep -x restore-test cmds &&
	test_grep -x help cmds
'

test_expect_success 'it completes a prefix, after global options too' '
	complete_words -c x.conf -q res >out &&
	printf "%s\n" restore restore-test >expect &&
	test_cmp expect out
'

test_expect_success 'it completes the options of a command' '
	complete_words backup --p >out &&
	printf "%s\n" --prune >expect &&
	test_cmp expect out &&
	complete_words restore --ta >out &&
	printf "%s\n" --target >expect &&
	test_cmp expect out
'

test_expect_success 'it completes command names after help' '
	complete_words help sta >out &&
	printf "%s\n" stats >expect &&
	test_cmp expect out
'

test_expect_success 'meson install puts it in share/bash-completion/completions' '
	meson install -C "$MB_BUILDDIR" --destdir "$SCRATCH/inst" --no-rebuild \
		--quiet >install.log 2>&1 || {
		cat install.log
		false
	} &&
	find "$SCRATCH/inst" -path "*/share/bash-completion/completions/mailbackup" >found &&
	test "$(wc -l <found)" = 1 &&
	cmp "$(cat found)" "$COMPLETION"
'

test_done
