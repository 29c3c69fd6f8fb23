"""Validates Prometheus text exposition format (version 0.0.4) on stdin, strictly enough to catch
what a scraper would reject: every sample's metric declared by # TYPE before it, once; names and
labels well formed; values numeric; counters named *_total. Prints `ok N samples` or one error."""
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(\{{(?:{LABEL}(?:,{LABEL})*)?\}})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$")
types, helped, seen_samples = {}, set(), 0
for n, line in enumerate(sys.stdin.read().splitlines(), 1):
    if line.startswith("# HELP "):
        name = line.split(" ", 3)[2]
        if name in helped:
            sys.exit(f"line {n}: second HELP for {name}")
        helped.add(name)
    elif line.startswith("# TYPE "):
        parts = line.split(" ")
        if len(parts) != 4 or parts[3] not in ("counter", "gauge", "untyped", "summary", "histogram"):
            sys.exit(f"line {n}: bad TYPE line: {line}")
        if parts[2] in types:
            sys.exit(f"line {n}: second TYPE for {parts[2]}")
        if parts[3] == "counter" and not parts[2].endswith("_total"):
            sys.exit(f"line {n}: counter {parts[2]} not named *_total")
        types[parts[2]] = parts[3]
    elif line.startswith("#") or not line:
        continue
    else:
        m = SAMPLE.match(line)
        if not m:
            sys.exit(f"line {n}: not a sample: {line}")
        if m.group(1) not in types:
            sys.exit(f"line {n}: sample of undeclared metric {m.group(1)}")
        float(m.group(3))
        seen_samples += 1
print(f"ok {seen_samples} samples")
