#!/usr/bin/python3
"""Validate sockbroker's JSON files against the schemas in schema/.

Checks, each a pass or a failure of its own:
  - schema/config.schema.json and schema/audit.schema.json are valid schemas;
  - every example configuration, examples/*.json, and the configuration the systemd service
    reads, systemd/sockbrokerd.json, and the container's, docker/sockbrokerd.json, against schema/config.schema.json;
  - every line of each audit log given with --audit-log against schema/audit.schema.json;
  - with --audit-sample PROGRAM: the lines PROGRAM writes to the file named by
    $SOCKBROKER_AUDIT_SAMPLE (tests/unit/test-audit writes one of each shape), the same way.

An audit line must be UTF-8, one JSON object without repeated keys, and match the schema; an
audit log without any line fails too (whatever wrote it wrote nothing). Exits 0 when every
check passed, 1 otherwise, after the closing line "N passed, N failed".

Needs Debian's python3-jsonschema (scripts/install-deps.sh installs it).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("validate.py: the Python module jsonschema is missing; install python3-jsonschema "
          "(scripts/install-deps.sh does)", file=sys.stderr)
    sys.exit(1)


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok: {what}")

    def fail(self, what: str, why: str) -> None:
        self.failed += 1
        print(f"FAIL: {what}: {why}")


def no_repeated_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"repeated keys {repeated}")
    return dict(pairs)


def describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    # oneOf/anyOf failures say little; their closest sub-error says what is wrong.
    best = jsonschema.exceptions.best_match([error])
    return f"at {where}: {best.message}"


def load_validator(path: str, checks: Checks):
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f, object_pairs_hook=no_repeated_keys)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        checks.fail(path, f"not a usable JSON Schema: {e}")
        return None
    checks.ok(f"{path} is a valid schema")
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_configs(source_root: str, checks: Checks) -> None:
    validator = load_validator(os.path.join(source_root, "schema", "config.schema.json"), checks)
    if validator is None:
        return
    examples = sorted(glob.glob(os.path.join(source_root, "examples", "*.json")))
    if not examples:
        checks.fail("examples/*.json", "no example configuration found")
    examples.append(os.path.join(source_root, "systemd", "sockbrokerd.json"))
    examples.append(os.path.join(source_root, "docker", "sockbrokerd.json"))
    for path in examples:
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f, object_pairs_hook=no_repeated_keys)
        except (OSError, ValueError) as e:
            checks.fail(path, f"not readable JSON: {e}")
            continue
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            checks.fail(path, "; ".join(describe(e) for e in errors[:5]))
        else:
            checks.ok(path)


def validate_audit_log(path: str, validator, checks: Checks) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        checks.fail(path, f"cannot read: {e}")
        return
    if not data:
        checks.fail(path, "has no line")
        return
    if not data.endswith(b"\n"):
        checks.fail(path, "the last line has no newline (a line cut short)")
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        where = f"{path}:{number}"
        try:
            text = raw.decode("utf-8", errors="strict")
            record = json.loads(text, object_pairs_hook=no_repeated_keys)
        except (UnicodeDecodeError, ValueError) as e:
            checks.fail(where, f"not one JSON object in UTF-8: {e}")
            continue
        errors = list(validator.iter_errors(record))
        if errors:
            checks.fail(where, "; ".join(describe(e) for e in errors[:5]))
        else:
            checks.ok(f"{where} ({record.get('event')})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-root",
                        default=os.path.join(os.path.dirname(__file__), "..", ".."),
                        help="the top of the source tree (default: relative to this script)")
    parser.add_argument("--audit-log", action="append", default=[], metavar="FILE",
                        help="an audit log whose every line is validated (repeatable)")
    parser.add_argument("--audit-sample", metavar="PROGRAM",
                        help="a program that writes sample audit lines to the file named "
                        "by $SOCKBROKER_AUDIT_SAMPLE")
    args = parser.parse_args()
    args.source_root = os.path.normpath(args.source_root)

    checks = Checks()
    validate_configs(args.source_root, checks)

    audit_validator = load_validator(os.path.join(args.source_root, "schema", "audit.schema.json"),
                                     checks)
    if audit_validator is not None:
        for path in args.audit_log:
            validate_audit_log(path, audit_validator, checks)
        if args.audit_sample:
            with tempfile.TemporaryDirectory(prefix="sb-schema-") as tmp:
                sample = os.path.join(tmp, "audit.jsonl")
                env = dict(os.environ, SOCKBROKER_AUDIT_SAMPLE=sample)
                try:
                    done = subprocess.run([args.audit_sample], env=env, timeout=60,
                                          stdin=subprocess.DEVNULL)
                    if done.returncode != 0:
                        checks.fail(args.audit_sample, f"exited {done.returncode}")
                    else:
                        validate_audit_log(sample, audit_validator, checks)
                except (OSError, subprocess.TimeoutExpired) as e:
                    checks.fail(args.audit_sample, f"cannot run: {e}")

    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
