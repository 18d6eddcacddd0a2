#!/bin/bash
# SPDX-License-Identifier: MIT
# t4001-forget: five years of backups made with --time (three groups: two
# hosts and two source sets), judged by many retention policies; the kept
# set, the reasons and the JSON are checked against an independent model of
# restic's rules; real forgets remove exactly the rest; an empty policy is
# refused; backup --prune applies [retention] only after a clean backup.
. "$(dirname "$0")/lib-test.sh"

# mailbackup with another configuration file (under MB_BIN_WRAPPER too)
mbc() {
	${MB_BIN_WRAPPER:-} "$MB_BIN" -c "$@"
}

# The timeline: "TIME HOST SOURCES", oldest first. Each backup changes
# data/log, so every snapshot of a group has content of its own. It walks
# over the corners: ISO week 53 of 2020 (2020-12-28 .. 2021-01-03), week 52
# that ends a year, a leap day, month and year ends, hours and days with
# several snapshots, and an empty year (2018 is not there at all).
cat >timeline.in <<'EOF'
2019-06-15T12:00:00Z mbtest conf,data
2019-11-30T23:59:59Z mbtest conf,data
2019-12-01T00:00:00Z mbtest conf,data
2020-02-29T10:00:00Z mbtest conf,data
2020-12-28T08:00:00Z mbtest conf,data
2020-12-31T23:00:00Z mbtest conf,data
2021-01-01T01:00:00Z mbtest conf,data
2021-01-03T23:59:59Z mbtest conf,data
2021-01-04T00:00:00Z mbtest conf,data
2021-06-30T12:00:00Z mbtest conf,data
2021-07-01T12:00:00Z mbtest conf,data
2022-01-02T12:00:00Z mbtest conf,data
2022-01-03T12:00:00Z mbtest conf,data
2022-06-01T00:00:00Z mbtest conf
2022-12-31T22:00:00Z mbtest conf,data
2023-01-01T02:00:00Z mbtest conf,data
2023-03-15T02:00:00Z mbtest conf,data
2023-05-20T02:00:00Z mbtest conf,data
2023-06-01T02:00:00Z other conf,data
2023-10-31T02:00:00Z mbtest conf,data
2023-11-01T02:00:00Z mbtest conf,data
2023-12-24T02:00:00Z mbtest conf,data
2024-01-07T02:00:00Z mbtest conf,data
2024-01-08T02:00:00Z mbtest conf,data
2024-01-15T02:00:00Z mbtest conf,data
2024-01-22T02:00:00Z mbtest conf,data
2024-01-29T02:00:00Z mbtest conf,data
2024-01-30T02:00:00Z mbtest conf,data
2024-01-31T23:59:59Z mbtest conf,data
2024-02-01T00:00:00Z mbtest conf,data
2024-02-01T00:00:00Z other conf,data
2024-02-02T02:00:00Z mbtest conf,data
2024-02-03T02:00:00Z mbtest conf,data
2024-02-04T02:00:00Z mbtest conf,data
2024-02-04T05:00:00Z mbtest conf
2024-02-05T02:00:00Z mbtest conf,data
2024-02-05T02:30:00Z mbtest conf,data
2024-02-05T03:10:00Z mbtest conf,data
2024-02-05T14:00:00Z mbtest conf,data
2024-02-05T23:59:59Z mbtest conf,data
2024-02-06T00:00:00Z mbtest conf,data
2024-02-06T00:30:00Z mbtest conf,data
2024-02-06T01:00:00Z mbtest conf,data
2024-02-06T01:59:59Z mbtest conf,data
2024-02-06T02:00:00Z mbtest conf,data
2024-02-06T03:00:00Z other conf,data
EOF

# The model: restic's ApplyPolicy written again from its description, in
# python. Input: lines "EPOCH HOST SOURCES ID"; arguments: --keep-RULE VALUE
# pairs. Output, sorted by id: "ID keep REASONS" or "ID remove -".
cat >model.py <<'EOF'
import datetime, re, sys
RULES = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
def duration(s):
    parts = re.findall(r"(\d+)(min|[shdw]?)", s)
    assert "".join(n + u for n, u in parts) == s, "model: unit of " + s
    return sum(int(n) * UNITS[u or "s"] for n, u in parts)
def bucket(rule, i, t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return {"last": i,
            "hourly": (d.year, d.month, d.day, d.hour),
            "daily": (d.year, d.month, d.day),
            "weekly": tuple(d.isocalendar()[:2]),
            "monthly": (d.year, d.month),
            "yearly": d.year}[rule]
pol, within, args = {}, 0, sys.argv[2:]
for k, v in zip(args[0::2], args[1::2]):
    k = k[len("--keep-"):]
    if k == "within":
        within = duration(v)
    else:
        pol[k] = -1 if v == "unlimited" else int(v)
groups = {}
for line in open(sys.argv[1]):
    t, host, sources, sid = line.split()
    groups.setdefault((host, sources), []).append((int(t), sid))
out = []
for snaps in groups.values():
    snaps.sort(reverse=True)  # newest first; times are unique in a group
    left = {r: pol.get(r, 0) for r in RULES}
    last = {r: None for r in RULES}
    for i, (t, sid) in enumerate(snaps):
        why = []
        for r in RULES:
            if left[r] == 0:
                continue
            b = bucket(r, i, t)
            # a new period, or the oldest while the rule has room left
            if b != last[r] or i == len(snaps) - 1:
                why.append(r)
                last[r] = b
                if left[r] > 0:
                    left[r] -= 1
        if within and snaps[0][0] - t < within:
            why.append("within")
        if i == 0:
            why.append("newest")
        out.append("%s %s %s" % (sid, "keep" if why else "remove",
                                 ",".join(why) or "-"))
print("\n".join(sorted(out)))
EOF

# forget --json as "ID keep|remove REASONS" lines, sorted by id; checks the
# fields of every entry against the timeline on the way.
cat >fromjson.py <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
tl = {}
for line in open(sys.argv[2]):
    t, host, sources, sid = line.split()
    tl[sid] = (host, sources)
iso = {}
for line in open(sys.argv[3]):
    sid, when = line.split()
    iso[sid] = when
assert set(o) == {"snapshots", "dry_run", "kept", "removed"}, o.keys()
snaps = o["snapshots"]
assert sorted(s["id"] for s in snaps) == sorted(tl), "ids differ"
assert o["kept"] == sum(s["action"] == "keep" for s in snaps), "kept"
assert o["removed"] == sum(s["action"] == "remove" for s in snaps), "removed"
out = []
for s in snaps:
    assert set(s) == {"id", "time", "host", "sources", "action", "reasons"}, s
    assert (s["host"], s["sources"]) == tl[s["id"]], s
    assert s["time"] == iso[s["id"]], s
    assert s["action"] in ("keep", "remove"), s
    assert (s["action"] == "keep") == bool(s["reasons"]), s
    out.append("%s %s %s" % (s["id"], s["action"],
                             ",".join(s["reasons"]) or "-"))
print("\n".join(sorted(out)))
print("dry_run", o["dry_run"], file=sys.stderr)
EOF

# check_policy ARGS...: forget --dry-run --json ARGS equals the model over
# the snapshots in timeline, and removes nothing.
check_policy() {
	ls repo/snapshots >before &&
	mb forget --dry-run --json "$@" >forget.json &&
	python3 fromjson.py forget.json timeline iso >actual 2>dry &&
	test_grep "dry_run True" dry &&
	python3 model.py timeline "$@" >expect &&
	test_cmp expect actual &&
	ls repo/snapshots >after &&
	test_cmp before after
}

# the ids (sorted) that "keep" lines of a model output name
kept_ids() {
	awk '$2 == "keep" {print $1}' "$1"
}

listed_ids() {
	mb snapshots >list && awk '{print $1}' list | LC_ALL=C sort
}

test_expect_success 'setup: keys, two small sources, a repository' '
	mb_setup_keys &&
	mkdir -p src/data src/conf &&
	printf "myhostname = mx.example.org\n" >src/conf/main.cf &&
	printf "start\n" >src/data/log &&
	srcs="[source conf]
type = files
path = $SCRATCH/src/conf
[source data]
type = files
path = $SCRATCH/src/data" &&
	mb_write_config "$srcs" &&
	MB_HOST=other mb_write_config -o other.conf "$srcs" &&
	mb init
'

test_expect_success 'backups along the timeline' '
	: >timeline && : >iso &&
	while read -r when host sources; do
		echo "$when $host" >>src/data/log &&
		case $host in
		other) cf=$SCRATCH/other.conf ;;
		*) cf=$CONF ;;
		esac &&
		case $sources in
		conf) set -- --source conf ;;
		*) set -- ;;
		esac &&
		mbc "$cf" backup --json --time "$when" "$@" >b.json &&
		id=$(mb_json_get id b.json) &&
		echo "$(date -u -d "$when" +%s) $host $sources $id" >>timeline &&
		echo "$id $when" >>iso || return 1
	done <timeline.in &&
	test "$(wc -l <timeline)" = "$(wc -l <timeline.in)" &&
	test "$(ls repo/snapshots | wc -l)" = "$(wc -l <timeline)"
'

test_expect_success 'snapshots of each group have content of their own' '
	a=$(sed -n 1p timeline | cut -d" " -f4) &&
	b=$(sed -n 2p timeline | cut -d" " -f4) &&
	mb ls -l "$a" data >la && mb ls -l "$b" data >lb &&
	! cmp -s la lb
'

test_expect_success PYTHON3 'the model knows ISO week 53' '
	# 2020-12-27 (Sun, W52), 2020-12-28 (Mon, W53), 2021-01-01 (Fri,
	# W53), 2021-01-04 (Mon, 2021-W01)
	printf "%s\n" "1609027200 h g w" "1609113600 h g y" "1609459200 h g x" \
		"1609718400 h g z" >t53 &&
	python3 model.py t53 --keep-weekly 3 >out &&
	printf "%s\n" "w keep weekly" "x keep weekly" "y remove -" \
		"z keep weekly,newest" >expect &&
	test_cmp expect out
'

# One test per policy: every snapshot, keep or remove and every reason.
while read -r policy; do
	test_expect_success PYTHON3 "forget --dry-run $policy" "
		check_policy $policy
	"
done <<'EOF'
--keep-last 5
--keep-last 1
--keep-last 100
--keep-hourly 6
--keep-daily 7
--keep-daily 30
--keep-weekly 6
--keep-weekly 12
--keep-weekly unlimited
--keep-monthly 8
--keep-monthly 24
--keep-yearly 3
--keep-yearly 10
--keep-yearly unlimited
--keep-within 36h
--keep-within 1w
--keep-within 2d12h
--keep-within 2w --keep-monthly 3
--keep-daily 3 --keep-yearly unlimited
--keep-hourly 4 --keep-last 2 --keep-within 90min
--keep-last 3 --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 3
EOF

# verdicts of a text listing in timeline order: "TIME HOST SOURCES ACTION REASONS"
verdicts() {
	while read -r t host sources id; do
		v=$(grep "^$id " "$1") || return 1
		set -- "$1" $v
		echo "$3 $host $sources $5 $6"
	done <timeline
}

test_expect_success 'by hand: --keep-weekly unlimited over ISO weeks 52, 53 and 1' '
	mb forget --dry-run --keep-weekly unlimited >w.txt &&
	verdicts w.txt >v &&
	grep "mbtest conf,data keep" v | cut -d" " -f1,5 >actual &&
	sed "s/\$/ weekly/" >expect <<-EOF &&
	2019-06-15T12:00:00Z
	2019-12-01T00:00:00Z
	2020-02-29T10:00:00Z
	2021-01-03T23:59:59Z
	2021-01-04T00:00:00Z
	2021-07-01T12:00:00Z
	2022-01-02T12:00:00Z
	2022-01-03T12:00:00Z
	2023-01-01T02:00:00Z
	2023-03-15T02:00:00Z
	2023-05-20T02:00:00Z
	2023-11-01T02:00:00Z
	2023-12-24T02:00:00Z
	2024-01-07T02:00:00Z
	2024-01-08T02:00:00Z
	2024-01-15T02:00:00Z
	2024-01-22T02:00:00Z
	2024-02-04T02:00:00Z
	EOF
	echo "2024-02-06T02:00:00Z weekly,newest" >>expect &&
	test_cmp expect actual &&
	# alone in its group, each snapshot of the conf-only set is a week
	grep "^2022-06-01T00:00:00Z mbtest conf keep weekly\$" v &&
	grep "^2024-02-04T05:00:00Z mbtest conf keep weekly,newest\$" v
'

test_expect_success 'by hand: --keep-yearly 10 keeps the oldest while room is left' '
	mb forget --dry-run --keep-yearly 10 >y.txt &&
	verdicts y.txt >v &&
	grep "mbtest conf,data keep" v | cut -d" " -f1,5 >actual &&
	cat >expect <<-EOF &&
	2019-06-15T12:00:00Z yearly
	2019-12-01T00:00:00Z yearly
	2020-12-31T23:00:00Z yearly
	2021-07-01T12:00:00Z yearly
	2022-12-31T22:00:00Z yearly
	2023-12-24T02:00:00Z yearly
	2024-02-06T02:00:00Z yearly,newest
	EOF
	test_cmp expect actual &&
	grep "other conf,data keep" v | cut -d" " -f1,5 >actual &&
	cat >expect <<-EOF &&
	2023-06-01T02:00:00Z yearly
	2024-02-06T03:00:00Z yearly,newest
	EOF
	test_cmp expect actual
'

test_expect_success 'by hand: --keep-last 2 --keep-within 2h counts from the newest of each group, exclusive' '
	mb forget --dry-run --keep-last 2 --keep-within 2h >l.txt &&
	verdicts l.txt >v &&
	grep " keep " v | cut -d" " -f1-2,5 >actual &&
	cat >expect <<-EOF &&
	2022-06-01T00:00:00Z mbtest last
	2024-02-01T00:00:00Z other last
	2024-02-04T05:00:00Z mbtest last,within,newest
	2024-02-06T00:30:00Z mbtest within
	2024-02-06T01:00:00Z mbtest within
	2024-02-06T01:59:59Z mbtest last,within
	2024-02-06T02:00:00Z mbtest last,within,newest
	2024-02-06T03:00:00Z other last,within,newest
	EOF
	sort expect >e && sort actual >a && test_cmp e a
'

test_expect_success PYTHON3 'the text listing says the same as the JSON' '
	mb forget --dry-run --keep-daily 7 --keep-monthly 3 >text 2>err &&
	test_grep "dry run: " err &&
	mb forget --dry-run --json --keep-daily 7 --keep-monthly 3 >t.json &&
	python3 fromjson.py t.json timeline iso >expect &&
	test "$(wc -l <text)" = "$(wc -l <timeline)" &&
	while read -r id when host action reasons; do
		test "$when" = "$(grep "^$id " iso | cut -d" " -f2)" &&
		echo "$id $action ${reasons:--}" || return 1
	done <text | LC_ALL=C sort >actual &&
	test_cmp expect actual
'

test_expect_success 'periods are UTC whatever the local time zone' '
	set -- --keep-hourly 5 --keep-daily 5 --keep-weekly 3 --keep-monthly 3 --keep-yearly 2 &&
	mb forget --dry-run --json "$@" >utc.json &&
	# POSIX TZ strings: no tzdata needed; UTC+14 and UTC-11
	TZ=XYZ-14 mb forget --dry-run --json "$@" >east.json &&
	TZ=XYZ+11 mb forget --dry-run --json "$@" >west.json &&
	test_cmp utc.json east.json &&
	test_cmp utc.json west.json
'

test_expect_success PYTHON3 'forget --json refused: still valid JSON, exit 2' '
	test_must_fail --exit 2 mb forget --json >refused.json 2>err &&
	python3 -m json.tool refused.json
'

test_expect_success 'an empty policy is refused and removes nothing' '
	ls repo/snapshots >before &&
	test_must_fail --exit 2 mb forget 2>err &&
	test_grep -i "retention" err &&
	test_must_fail --exit 2 mb forget --dry-run 2>err &&
	test_must_fail --exit 2 mb forget --keep-last 0 2>err &&
	test_must_fail --exit 2 mb forget --keep-within 0 2>err &&
	test_must_fail --exit 2 mb forget --keep-daily 0 --keep-within 0s 2>err &&
	mb_write_config -o zero.conf "[retention]" "keep_last = 0" &&
	test_must_fail --exit 2 mbc zero.conf forget 2>err &&
	ls repo/snapshots >after &&
	test_cmp before after
'

test_expect_success 'bad rules are usage errors and remove nothing' '
	ls repo/snapshots >before &&
	test_must_fail --exit 2 mb forget --keep-last abc 2>err &&
	test_must_fail --exit 2 mb forget --keep-last -1 2>err &&
	test_must_fail --exit 2 mb forget --keep-daily 2x 2>err &&
	test_must_fail --exit 2 mb forget --keep-within 3q 2>err &&
	test_must_fail --exit 2 mb forget --keep-within "" 2>err &&
	test_must_fail --exit 2 mb forget --keep-secondly 3 2>err &&
	test_must_fail --exit 2 mb forget --keep-last 3 extra 2>err &&
	test_must_fail --exit 2 mb forget --keep-last 2>err &&
	ls repo/snapshots >after &&
	test_cmp before after
'

test_expect_success 'forget --help names every rule' '
	"$MB_BIN" forget --help >out &&
	for r in last hourly daily weekly monthly yearly within; do
		test_grep -e "--keep-$r" out || return 1
	done
'

test_expect_success PYTHON3 'a real forget removes exactly what the model removes' '
	set -- --keep-last 3 --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 3 &&
	python3 model.py timeline "$@" >model &&
	mb forget --json "$@" >real.json &&
	python3 fromjson.py real.json timeline iso >actual 2>dry &&
	test_grep "dry_run False" dry &&
	test_cmp model actual &&
	kept_ids model >expect &&
	listed_ids >actual &&
	test_cmp expect actual &&
	test "$(ls repo/snapshots | wc -l)" = "$(wc -l <expect)" &&
	# the timeline now holds what is left
	grep -F -f expect timeline >t2 && mv t2 timeline
'

test_expect_success 'the newest snapshot of every group is still there' '
	mb snapshots >list &&
	for g in "mbtest conf,data" "mbtest conf" "other conf,data"; do
		id=$(grep " $g " timeline | sort -n | tail -n 1 | cut -d" " -f4) &&
		test -n "$id" &&
		grep "^$id " list || return 1
	done
'

test_expect_success 'the repository is intact after forget' '
	mb check
'

test_expect_success PYTHON3 'a second forget judges what the first one left' '
	python3 model.py timeline --keep-last 4 >model &&
	mb forget --keep-last 4 >out &&
	kept_ids model >expect &&
	listed_ids >actual &&
	test_cmp expect actual &&
	grep -F -f expect timeline >t2 && mv t2 timeline
'

test_expect_success PYTHON3 'the same policy again removes nothing' '
	ls repo/snapshots >before &&
	mb forget --json --keep-last 4 >again.json &&
	test "$(mb_json_get removed again.json)" = 0 &&
	ls repo/snapshots >after &&
	test_cmp before after
'

test_expect_success PYTHON3 'forget without rules applies [retention]; rules on the command line replace it' '
	ret="[retention]
keep_last = 2
keep_within = 1h" &&
	mb_write_config "prune_grace = 0" "$srcs" "$ret" &&
	python3 model.py timeline --keep-last 2 --keep-within 1h >expect &&
	mb forget --dry-run --json >cfg.json &&
	python3 fromjson.py cfg.json timeline iso >actual &&
	test_cmp expect actual &&
	python3 model.py timeline --keep-last 1 >expect &&
	mb forget --dry-run --json --keep-last 1 >cli.json &&
	python3 fromjson.py cli.json timeline iso >actual &&
	test_cmp expect actual
'

test_expect_success PYTHON3 'backup --prune: a clean backup applies [retention] and prunes' '
	echo "one more" >>src/data/log &&
	mb backup --prune --json --time 2024-02-07T02:00:00Z >bp.json &&
	id=$(mb_json_get id bp.json) &&
	echo "$(date -u -d 2024-02-07T02:00:00Z +%s) mbtest conf,data $id" >>timeline &&
	echo "$id 2024-02-07T02:00:00Z" >>iso &&
	python3 model.py timeline --keep-last 2 --keep-within 1h >model &&
	kept_ids model >expect &&
	listed_ids >actual &&
	test_cmp expect actual &&
	grep -F -f expect timeline >t2 && mv t2 timeline &&
	mb check &&
	# and pruned: nothing is left to delete
	mb prune --dry-run --json >left.json &&
	test "$(mb_json_get packs_deleted left.json)" = 0
'

test_expect_success 'backup --prune: a failed backup removes nothing' '
	ls repo/snapshots >before &&
	find repo/packs repo/index -type f | sort >objects.before &&
	mb_write_config "$srcs
[source gone]
type = files
path = $SCRATCH/no-such-dir" "$ret" &&
	echo "more" >>src/data/log &&
	test_must_fail --exit 1 mb backup --prune --time 2024-03-01T02:00:00Z 2>err &&
	test_grep "no-such-dir" err &&
	ls repo/snapshots >after &&
	test_cmp before after &&
	find repo/packs repo/index -type f | sort >objects.after &&
	# the failed run may leave a pack behind, but deletes nothing
	comm -23 objects.before objects.after >deleted &&
	test_must_be_empty deleted
'

test_expect_success 'backup --prune without a policy: the backup stays, nothing is removed' '
	mb_write_config "prune_grace = 0" "$srcs" &&
	ls repo/snapshots >before &&
	echo "again" >>src/data/log &&
	test_must_fail --exit 2 mb backup --prune --time 2024-03-02T02:00:00Z 2>err &&
	test_grep -i "retention" err &&
	ls repo/snapshots >after &&
	test "$(comm -23 before after | wc -l)" = 0 &&
	test "$(comm -13 before after | wc -l)" = 1
'

test_expect_success PYTHON3 'forget --prune removes and prunes in one run' '
	mb forget --prune --grace 0 --keep-last 1 2>err &&
	test "$(ls repo/snapshots | wc -l)" = 3 &&
	mb prune --dry-run --json >left.json &&
	test "$(mb_json_get packs_deleted left.json)" = 0 &&
	mb check --read-data
'

test_done
