#!/usr/bin/env python3
"""Lists the non-test Rust functions longer than N lines (default 100).

Usage: python3 tools/long_functions.py [N]   (from the repository root)

A function runs from its `fn` line to its closing brace, found by counting
braces outside strings, chars and comments. `#[cfg(test)]` modules and
files under tests/, benches/benches and fuzz/ are skipped.
"""
import os
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 100
FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')


def strip(line, state):
    """The line's code without strings, chars and comments; state carries
    an open block comment or string across lines."""
    out = []
    i = 0
    while i < len(line):
        if state['block']:
            j = line.find('*/', i)
            if j < 0:
                return ''.join(out)
            state['block'] = False
            i = j + 2
            continue
        if state['str']:
            if line[i] == '\\':
                i += 2
                continue
            if line[i] == '"':
                state['str'] = False
            i += 1
            continue
        c = line[i]
        if line.startswith('//', i):
            break
        if line.startswith('/*', i):
            state['block'] = True
            i += 2
            continue
        if c == '"':
            state['str'] = True
            i += 1
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
            continue
        out.append(c)
        i += 1
    return ''.join(out)


def functions(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    state = {'block': False, 'str': False}
    depth = 0
    skip_depth = None
    stack = []  # (name, start line, depth at start)
    pending_cfg_test = False
    # A signature over several lines: a body follows (`{`) or not (`;`,
    # a trait's declaration).
    pending_fn = None
    for n, raw in enumerate(lines, 1):
        code = strip(raw, state)
        if '#[cfg(test)]' in raw:
            pending_cfg_test = True
        m = FN.match(code)
        if m and skip_depth is None and not code.rstrip().endswith(';'):
            pending_fn = (m.group(6), n, depth)
        if pending_fn is not None:
            if '{' in code:
                stack.append(pending_fn)
                pending_fn = None
            elif code.rstrip().endswith(';'):
                pending_fn = None
        if pending_cfg_test and re.match(r'\s*(pub\s+)?mod\s+\w+\s*\{', code):
            skip_depth = depth
            pending_cfg_test = False
        elif pending_cfg_test and code.strip() and not code.strip().startswith('#'):
            pending_cfg_test = False
        for c in code:
            if c == '{':
                depth += 1
            elif c == '}':
                depth -= 1
                if skip_depth is not None and depth == skip_depth:
                    skip_depth = None
                    stack = [s for s in stack if s[2] < depth]
                while stack and stack[-1][2] == depth and depth >= 0:
                    name, start, _ = stack.pop()
                    if skip_depth is None:
                        yield name, start, n - start + 1
    return


def main():
    roots = ['crates', 'benches/src']
    total = 0
    long = []
    for root in roots:
        for d, _, files in os.walk(root):
            if '/tests' in d or d.endswith('tests'):
                continue
            for f in files:
                if f.endswith('.rs'):
                    p = os.path.join(d, f)
                    for name, start, length in functions(p):
                        total += 1
                        if length > LIMIT:
                            long.append((length, p, start, name))
    for length, p, start, name in sorted(long, reverse=True):
        print(f'{length:5} {p}:{start} {name}')
    pct = 100.0 * len(long) / max(total, 1)
    print(f'{len(long)} of {total} functions over {LIMIT} lines ({pct:.1f} %)')


main()
