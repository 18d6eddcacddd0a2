#!/bin/bash
# SPDX-License-Identifier: MIT
# t5130-stats-diff: mailbackup stats (object sizes, unique content, logical
# size, ratios) against the repository's files and the backups' reports;
# mailbackup diff on a hand-made Maildir change (exact output, flag changes
# as such, per mailbox counts) and on a generated day of mail, checked
# against an independent comparison of the two snapshots' listings.
. "$(dirname "$0")/lib-test.sh"

msg() {
	mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" >"$1"
}

test_expect_success 'set up a small Maildir tree' '
	mb_setup_keys &&
	A=small/vmail/example.org/alice &&
	B=small/vmail/example.org/bob &&
	mkdir -p $A/cur $A/new $A/tmp $B/cur $B/new $B/tmp small/conf &&
	msg $A/cur/1700000000.M1P1.host:2,S "first message" &&
	msg $A/new/1700000001.M2P1.host "second message" &&
	msg $A/cur/1700000002.M3P1.host:2, "third message" &&
	msg $B/cur/1700000003.M4P1.host:2,S "bob one" &&
	msg small/conf/main.cf "a = 1" &&
	mb_write_config "[source vmail]" "type = maildir" "path = $SCRATCH/small/vmail" \
		"[source conf]" "type = files" "path = $SCRATCH/small/conf" &&
	mb init &&
	mb backup --json >s1.json
'

test_expect_success 'a day of changes' '
	mv $A/cur/1700000000.M1P1.host:2,S $A/cur/1700000000.M1P1.host:2,RS &&
	mv $A/new/1700000001.M2P1.host $A/cur/1700000001.M2P1.host:2,S &&
	rm $A/cur/1700000002.M3P1.host:2, &&
	rm $B/cur/1700000003.M4P1.host:2,S &&
	msg $B/cur/1700000003.M4P1.host:2,ST "bob one, edited" &&
	msg $B/new/1700000005.M5P1.host "new mail" &&
	msg small/conf/main.cf "a = 2" &&
	mb backup --json >s2.json &&
	id1=$(mb_json_get id s1.json) && id2=$(mb_json_get id s2.json)
'

test_expect_success 'diff lists the changes, flag changes as such' '
	mb diff "$id1" latest >out &&
	cat >expect <<-\EOF &&
	M conf/main.cf
	F vmail/example.org/alice/cur/1700000000.M1P1.host:2,S -> 1700000000.M1P1.host:2,RS
	F vmail/example.org/alice/new/1700000001.M2P1.host -> vmail/example.org/alice/cur/1700000001.M2P1.host:2,S
	- vmail/example.org/alice/cur/1700000002.M3P1.host:2,
	- vmail/example.org/bob/cur/1700000003.M4P1.host:2,S
	+ vmail/example.org/bob/cur/1700000003.M4P1.host:2,ST
	+ vmail/example.org/bob/new/1700000005.M5P1.host

	conf: 0 new (0 B), 0 removed (0 B), 1 changed (6 B), 0 flag changes
	vmail: 2 new (25 B), 2 removed (22 B), 0 changed (0 B), 2 flag changes
	  example.org/alice: 0 new (0 B), 1 removed (14 B), 0 changed (0 B), 2 flag changes
	  example.org/bob: 2 new (25 B), 1 removed (8 B), 0 changed (0 B), 0 flag changes
	total: 2 new (25 B), 2 removed (22 B), 1 changed (6 B), 2 flag changes
	EOF
	test_cmp expect out
'

test_expect_success 'diff --summary prints only the counts' '
	mb diff --summary "$id1" "$id2" >sum &&
	sed -n "/^conf:/,\$p" expect >expect.sum &&
	test_cmp expect.sum sum
'

test_expect_success PYTHON3 'diff --json' '
	mb diff --json "$id1" "$id2" >d.json &&
	python3 - d.json "$id1" "$id2" <<-\EOF
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["a"] == sys.argv[2] and d["b"] == sys.argv[3], d
	kinds = sorted((e["kind"], e["path"]) for e in d["entries"])
	assert len(d["entries"]) == 7, d["entries"]
	flags = [e for e in d["entries"] if e["kind"] == "flags"]
	assert {e["old_path"] for e in flags} == {
	    "example.org/alice/cur/1700000000.M1P1.host:2,S",
	    "example.org/alice/new/1700000001.M2P1.host"}, flags
	assert all(e["mailbox"] == "example.org/alice" for e in flags)
	new = [e for e in d["entries"] if e["kind"] == "new"]
	assert sum(e["size"] for e in new) == 25
	assert d["total"] == {"new": 2, "new_bytes": 25, "removed": 2,
	    "removed_bytes": 22, "changed": 1, "changed_bytes": 6,
	    "flag_changes": 2}, d["total"]
	vm = [s for s in d["sources"] if s["source"] == "vmail"][0]
	assert [m["mailbox"] for m in vm["mailboxes"]] == [
	    "example.org/alice", "example.org/bob"]
	assert vm["mailboxes"][1]["new"] == 2
	conf = [s for s in d["sources"] if s["source"] == "conf"][0]
	assert conf["mailboxes"] == [] and conf["changed"] == 1
	EOF
'

test_expect_success 'a snapshot against itself: no difference' '
	mb diff "$id2" "$id2" >same &&
	cat >expect <<-\EOF &&
	conf: 0 new (0 B), 0 removed (0 B), 0 changed (0 B), 0 flag changes
	vmail: 0 new (0 B), 0 removed (0 B), 0 changed (0 B), 0 flag changes
	total: 0 new (0 B), 0 removed (0 B), 0 changed (0 B), 0 flag changes
	EOF
	test_cmp expect same
'

test_expect_success 'a mode change is a change, an mtime alone is not' '
	touch -d "2020-01-01" small/conf/main.cf $B/new/1700000005.M5P1.host &&
	chmod 600 $A/cur/1700000000.M1P1.host:2,RS &&
	mb backup --json >s3.json &&
	mb diff "$id2" latest >out &&
	cat >expect <<-\EOF &&
	M vmail/example.org/alice/cur/1700000000.M1P1.host:2,RS

	conf: 0 new (0 B), 0 removed (0 B), 0 changed (0 B), 0 flag changes
	vmail: 0 new (0 B), 0 removed (0 B), 1 changed (14 B), 0 flag changes
	  example.org/alice: 0 new (0 B), 0 removed (0 B), 1 changed (14 B), 0 flag changes
	total: 0 new (0 B), 0 removed (0 B), 1 changed (14 B), 0 flag changes
	EOF
	test_cmp expect out
'

test_expect_success 'diff needs two snapshots that exist' '
	test_must_fail --exit 2 mb diff "$id1" 2>err &&
	test_must_fail --exit 1 mb diff "$id1" 0000000000000000 2>err &&
	test_grep "no snapshot" err
'

test_expect_success 'a generated tree and a day of mail' '
	mb_gen_tree tree --messages 400 --users 8 --domains 2 &&
	mb_write_config "$(mb_tree_sources "$SCRATCH/tree")" &&
	mb backup --json >g1.json &&
	mb_gen_tree tree --day --seed 2 &&
	mb backup --json >g2.json &&
	g1=$(mb_json_get id g1.json) && g2=$(mb_json_get id g2.json) &&
	mb ls --json "$g1" >ls1.json &&
	mb ls --json "$g2" >ls2.json
'

test_expect_success PYTHON3 'diff agrees with a comparison of the listings' '
	mb diff --json "$g1" "$g2" >g.json &&
	python3 - ls1.json ls2.json g.json <<-\EOF
	import json, sys, collections
	a = {(e["source"], e["path"]): e for e in json.load(open(sys.argv[1]))}
	b = {(e["source"], e["path"]): e for e in json.load(open(sys.argv[2]))}
	d = json.load(open(sys.argv[3]))
	def changed(x, y):
	    keys = ("type", "mode", "uid", "gid", "size", "sha256", "link")
	    return any(x.get(k) != y.get(k) for k in keys)
	new = [k for k in b if k not in a]
	gone = [k for k in a if k not in b]
	mod = [k for k in a if k in b and changed(a[k], b[k])]
	def msgkey(k, e):
	    src, p = k
	    head, _, name = p.rpartition("/")
	    folder, _, sub = head.rpartition("/")
	    if src != "vmail" or e["type"] != "f" or sub not in ("cur", "new"):
	        return None
	    return (src, folder, name.split(":2,")[0], e["sha256"])
	gonekeys = collections.defaultdict(list)
	for k in gone:
	    mk = msgkey(k, a[k])
	    if mk:
	        gonekeys[mk].append(k)
	flags = []
	for k in sorted(new):
	    mk = msgkey(k, b[k])
	    if mk and gonekeys.get(mk):
	        old = gonekeys[mk].pop(0)
	        flags.append((old, k))
	paired_new = {k for _, k in flags}
	paired_gone = {o for o, _ in flags}
	new = [k for k in new if k not in paired_new]
	gone = [k for k in gone if k not in paired_gone]
	exp = {"new": len(new), "removed": len(gone), "changed": len(mod),
	       "flag_changes": len(flags),
	       "new_bytes": sum(b[k]["size"] for k in new if b[k]["type"] == "f"),
	       "removed_bytes": sum(a[k]["size"] for k in gone if a[k]["type"] == "f"),
	       "changed_bytes": sum(b[k]["size"] for k in mod if b[k]["type"] == "f")}
	assert d["total"] == exp, (d["total"], exp)
	assert exp["flag_changes"] > 0 and exp["new"] > 0 and exp["removed"] > 0, exp
	got = sorted((e["kind"], e["source"], e["path"], e.get("old_path")) for e in d["entries"])
	want = sorted([("new",) + k + (None,) for k in new] +
	              [("removed",) + k + (None,) for k in gone] +
	              [("changed",) + k + (None,) for k in mod] +
	              [("flags",) + n + (o[1],) for o, n in flags])
	assert got == want, [x for x in got if x not in want][:5] + [x for x in want if x not in got][:5]
	# per mailbox: the first two path components
	per = collections.Counter()
	for kind, src, path, _ in got:
	    if src == "vmail" and path.count("/") >= 1:
	        per["/".join(path.split("/")[:2])] += 1
	vm = [s for s in d["sources"] if s["source"] == "vmail"][0]
	for m in vm["mailboxes"]:
	    n = m["new"] + m["removed"] + m["changed"] + m["flag_changes"]
	    assert per[m["mailbox"]] == n, (m, per[m["mailbox"]])
	assert sum(per.values()) == sum(m["new"] + m["removed"] + m["changed"] + m["flag_changes"] for m in vm["mailboxes"])
	EOF
'

test_expect_success 'stats reports the repository' '
	mb stats --json >st.json &&
	mb stats >st.txt &&
	test "$(mb_json_get snapshots st.json)" = "$(ls repo/snapshots | wc -l)" &&
	test "$(mb_json_get packs st.json)" = "$(find repo/packs -type f | wc -l)" &&
	test "$(mb_json_get index_objects st.json)" = "$(ls repo/index | wc -l)" &&
	test "$(mb_json_get bytes_packs st.json)" = \
		"$(find repo/packs -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")" &&
	test "$(mb_json_get bytes_snapshots st.json)" = \
		"$(find repo/snapshots -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")" &&
	test "$(mb_json_get bytes_index st.json)" = \
		"$(find repo/index -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")" &&
	files=0 logical=0 &&
	for j in s1 s2 s3 g1 g2; do
		files=$((files + $(mb_json_get files $j.json))) &&
		logical=$((logical + $(mb_json_get bytes_total $j.json))) || return 1
	done &&
	test "$(mb_json_get files st.json)" = "$files" &&
	test "$(mb_json_get bytes_logical st.json)" = "$logical" &&
	test_grep "^snapshots  *5 " st.txt &&
	test_grep "^dedup ratio " st.txt
'

test_expect_success PYTHON3 'stats: unique content and the ratios' '
	python3 - st.json g1.json g2.json <<-\EOF
	import json, sys
	s = json.load(open(sys.argv[1]))
	assert s["blobs"] > 0 and s["bytes_blobs"] > 0
	# content is stored once: the unique bytes are at most what was new
	assert s["bytes_blobs"] <= s["bytes_logical"]
	assert abs(s["dedup_ratio"] - s["bytes_logical"] / s["bytes_blobs"]) < 1e-3
	assert abs(s["compression_ratio"] - s["bytes_blobs"] / s["bytes_packs"]) < 1e-3
	assert s["dedup_ratio"] > 1.5, s  # the day repeats almost all mail
	assert s["bytes_total"] == s["bytes_packs"] + s["bytes_index"] + s["bytes_snapshots"]
	EOF
'

test_done
