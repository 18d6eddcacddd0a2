# SPDX-License-Identifier: MIT
# promtest.py: make a `promtool test rules` file from real metrics files of
# mailbackup (t5140-monitoring.sh).
#
#   python3 promtest.py RULES SETTINGS TEST-SETTINGS OK.prom BAD.prom \
#           KILLED.prom OUTDIR
#
# writes OUTDIR/defaults.yml (the alerts with the installed SETTINGS) and
# OUTDIR/history.yml (slow and large backups, with TEST-SETTINGS, whose
# minimums suit a test's small backups).
# Each sample of a metrics file becomes an input series (labels instance
# and job added, as node_exporter's textfile collector and Prometheus add
# them), constant every minute (scraped like that, a sample is never
# older than Prometheus' 5-minute lookback, which the "for" of an alert
# needs). Timestamps are moved so that the event
# under test happened at the test's time 0.
import json
import re
import sys

LABELS = {"instance": "mail.example.org:9100", "job": "node"}


def read_prom(path):
    out = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.split()[:2]
        labels = {}
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            for part in rest.rstrip("}").split(","):
                k, v = part.split("=", 1)
                labels[k] = json.loads(v)
        else:
            name = name_labels
        out.append((name, labels, float(value)))
    return out


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    raise SystemExit("no sample %s %s" % (name, labels))


def series_name(name, labels):
    l = dict(labels, **LABELS)
    return name + "{" + ",".join('%s="%s"' % (k, l[k]) for k in sorted(l)) + "}"


def num(v):
    return ("%d" % v) if v == int(v) else repr(v)


def series(samples, base, n):
    """samples as constant input series; timestamps minus base"""
    out = []
    for name, labels, v in samples:
        if name.endswith("_timestamp_seconds") and v > 0:
            v -= base
        out.append({"series": series_name(name, labels),
                    "values": "%s+0x%d" % (num(v), n)})
    return out


def humanize_duration(v):
    if abs(v) >= 1:
        i = int(v)
        s, m, h, d = i % 60, (i // 60) % 60, (i // 3600) % 24, i // 86400
        if d:
            return "%dd %dh %dm %ds" % (d, h, m, s)
        if h:
            return "%dh %dm %ds" % (h, m, s)
        if m:
            return "%dm %ds" % (m, s)
        return "%.4gs" % v
    raise SystemExit("short durations are not needed here")


def humanize1024(v):
    prefix = ""
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]:
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return "%.4g%s" % (v, prefix)


def alert(name, severity, summary, description, **labels):
    l = dict(LABELS, severity=severity, **labels)
    return {"exp_labels": l,
            "exp_annotations": {"summary": summary, "description": description}}


def main():
    rules, settings, test_settings, ok_file, bad_file, killed_file, outdir = \
        sys.argv[1:8]
    ok = read_prom(ok_file)
    bad = read_prom(bad_file)
    killed = read_prom(killed_file)
    inst = LABELS["instance"]
    desc = {}
    # the descriptions, as the rules file has them (no templates in them)
    text = open(rules).read()
    for m in re.finditer(r"- alert: (\w+).*?description: \"(.*?)\"\n", text, re.S):
        desc[m.group(1)] = m.group(2).replace('\\"', '"')
    tests = []

    # 1. the backup of OK.prom ended at time 0: nothing for 26 h, then
    #    MailbackupNoRecentBackup
    base = value(ok, "mailbackup_last_success_timestamp_seconds", command="backup")
    tests.append({
        "interval": "1m",
        "input_series": series(ok, base, 60 * 30),
        "alert_rule_test": [
            {"eval_time": "1h", "alertname": a, "exp_alerts": []}
            for a in ["MailbackupNoRecentBackup", "MailbackupNeverBackedUp",
                      "MailbackupBackupFailed", "MailbackupRestoreTestFailed",
                      "MailbackupCheckFailed", "MailbackupLockHeldTooLong",
                      "MailbackupNoRecentRestoreTest", "MailbackupBackupSlow",
                      "MailbackupBackupLarge"]
        ] + [
            {"eval_time": "25h", "alertname": "MailbackupNoRecentBackup",
             "exp_alerts": []},
            {"eval_time": "27h", "alertname": "MailbackupNoRecentBackup",
             "exp_alerts": [alert(
                 "MailbackupNoRecentBackup", "critical",
                 "no successful mailbackup backup on %s for %s"
                 % (inst, humanize_duration(27 * 3600)),
                 desc["MailbackupNoRecentBackup"], command="backup")]},
        ],
    })

    # 2. BAD.prom: check and restore-test failed on a damaged repository
    base = value(bad, "mailbackup_last_run_timestamp_seconds", command="check")
    tests.append({
        "interval": "1m",
        "input_series": series(bad, base, 60 * 3),
        "alert_rule_test": [
            {"eval_time": "1h", "alertname": "MailbackupCheckFailed",
             "exp_alerts": [alert(
                 "MailbackupCheckFailed", "critical",
                 "the last mailbackup check on %s failed" % inst,
                 desc["MailbackupCheckFailed"], command="check")]},
            {"eval_time": "1h", "alertname": "MailbackupRestoreTestFailed",
             "exp_alerts": [alert(
                 "MailbackupRestoreTestFailed", "critical",
                 "the last mailbackup restore-test on %s failed" % inst,
                 desc["MailbackupRestoreTestFailed"])]},
            {"eval_time": "1h", "alertname": "MailbackupBackupFailed",
             "exp_alerts": []},
        ],
    })

    # 3. KILLED.prom: a backup killed while it ran (its lock left behind)
    # (at time 1: a value of 0 means "not running")
    base = value(killed, "mailbackup_running_since_timestamp_seconds",
                 command="backup") - 1
    tests.append({
        "interval": "1m",
        "input_series": series(killed, base, 60 * 8),
        "alert_rule_test": [
            {"eval_time": "5h", "alertname": "MailbackupLockHeldTooLong",
             "exp_alerts": []},
            {"eval_time": "7h", "alertname": "MailbackupLockHeldTooLong",
             "exp_alerts": [alert(
                 "MailbackupLockHeldTooLong", "warning",
                 "mailbackup backup on %s has held the repository lock since %s"
                 % (inst, "1970-01-01 00:00:01 +0000 UTC"),
                 desc["MailbackupLockHeldTooLong"], command="backup")]},
        ],
    })

    write(outdir + "/defaults.yml", [rules, settings], tests)
    tests = []

    # 4. a week of backups like OK.prom's, then one 10 times slower and
    #    with 10 times the new bytes (thresholds of the test settings)
    d = max(1, round(value(ok, "mailbackup_last_duration_seconds", command="backup")))
    b = max(1, value(ok, "mailbackup_last_bytes_new", command="backup"))
    week = 12 * 24 * 8  # samples every 5 minutes, 8 days
    hist = [
        {"series": series_name("mailbackup_last_duration_seconds", {"command": "backup"}),
         "values": "%s+0x%d %s+0x12" % (num(d), week, num(10 * d))},
        {"series": series_name("mailbackup_last_bytes_new", {"command": "backup"}),
         "values": "%s+0x%d %s+0x12" % (num(b), week, num(10 * b))},
    ]
    t_before = "%dm" % ((week - 6) * 5)
    t_after = "%dm" % ((week + 6) * 5)
    tests.append({
        "interval": "5m",
        "input_series": hist,
        "alert_rule_test": [
            {"eval_time": t_before, "alertname": "MailbackupBackupSlow", "exp_alerts": []},
            {"eval_time": t_before, "alertname": "MailbackupBackupLarge", "exp_alerts": []},
            {"eval_time": t_after, "alertname": "MailbackupBackupSlow",
             "exp_alerts": [alert(
                 "MailbackupBackupSlow", "warning",
                 "the last mailbackup backup on %s took %s, much longer than usual"
                 % (inst, humanize_duration(10 * d)),
                 desc["MailbackupBackupSlow"], command="backup")]},
            {"eval_time": t_after, "alertname": "MailbackupBackupLarge",
             "exp_alerts": [alert(
                 "MailbackupBackupLarge", "warning",
                 "the last mailbackup backup on %s found %sB of new content, much more than usual"
                 % (inst, humanize1024(10 * b)),
                 desc["MailbackupBackupLarge"], command="backup")]},
        ],
    })
    # no "for" here: evaluated every 5 minutes, a week is quick
    write(outdir + "/history.yml", [rules, test_settings], tests, "5m")


def write(path, rule_files, tests, every="1m"):
    doc = {"rule_files": rule_files, "evaluation_interval": every,
           "tests": tests}
    # YAML is a superset of JSON
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


main()
