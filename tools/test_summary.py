#!/usr/bin/env python3
"""Counts every test case that meson ran, from one or more meson-logs/testlog.json files.

A test program that speaks TAP counts once per `ok` / `not ok` line; one that does not counts
once by its own result.  Prints `N passed, N failed` as the last line and exits 1 on any failure.
The same test runs in more than one build (the unit tests in the gcc build and again in the
clang ASan/UBSan one), so a failure is named with its build directory: `build-fuzz: ... / storage/log`.
"""
import json
import os
import re
import sys

TAP = re.compile(r'^(not ok|ok)\b(.*)$')


def build_dir(path):
    """The build directory of a meson-logs/*.json file, as given (`build-fuzz`)."""
    d = os.path.dirname(os.path.dirname(os.path.normpath(path)))
    return d or '.'


def count(path):
    passed = failed = 0
    failures = []
    where = build_dir(path)
    with open(path, encoding='utf-8') as f:
        for line in f:
            t = json.loads(line)
            t['name'] = where + ': ' + t['name']
            cases = [TAP.match(l) for l in (t.get('stdout') or '').splitlines()]
            cases = [m for m in cases if m]
            ok = t['result'] in ('OK', 'EXPECTEDFAIL')
            if cases:
                for m in cases:
                    skip = '# SKIP' in m.group(2).upper()
                    if m.group(1) == 'ok' and not skip:
                        passed += 1
                    elif m.group(1) == 'not ok':
                        failed += 1
                        failures.append(f"{t['name']}: {m.group(2).strip()}")
                # A program that crashed or exited non-zero after its cases still failed.
                if not ok and not any(m.group(1) == 'not ok' for m in cases):
                    failed += 1
                    failures.append(f"{t['name']}: {t['result']} (exit {t.get('returncode')})")
            elif t['result'] == 'SKIP':
                pass
            elif ok:
                passed += 1
            else:
                failed += 1
                failures.append(f"{t['name']}: {t['result']}")
    return passed, failed, failures


def main():
    passed = failed = 0
    for p in sys.argv[1:]:
        if not os.path.exists(p):
            print(f'test_summary: no {p} (that stage ran no test)')
            continue
        a, b, fl = count(p)
        passed += a
        failed += b
        for x in fl:
            print('FAILED', x)
    print(f'{passed} passed, {failed} failed')
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
