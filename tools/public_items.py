#!/usr/bin/env python3
"""Counts the public items of the workspace's library crates, as rustdoc
documents them (items marked `#[doc(hidden)]` are left out, as `cargo doc`
leaves them out).

Usage: python3 tools/public_items.py [CRATE...]   (from the repository root;
default: every library crate of the workspace). Needs a nightly toolchain
(`cargo +nightly rustdoc ... --output-format json`); honours
CARGO_TARGET_DIR.

An item is counted once, however many paths reach it: modules, types,
traits, functions, methods, constants, statics, fields and variants of the
crate itself, reached from its root through public modules and `pub use`.
Re-exported other crates (`lucerna::store`) count in their own crate.
Prints one line per crate: the count, the count by kind, and the names
at the crate root; then every type of the crate that a documented
signature or field names but that is not documented itself (reachable
only through a hidden or private path): there should be none.
"""
import json
import os
import subprocess
import sys

CRATES = ['lucerna-store', 'lucerna-codec', 'lucerna-merge', 'lucerna', 'lucerna-object']
SKIP = {'impl', 'use', 'primitive'}


def kind_of(item):
    inner = item['inner']
    return next(iter(inner)) if isinstance(inner, dict) else inner


def children(item, index):
    """Ids of what an item exposes: a module's items, a type's fields,
    variants and inherent or trait methods, a trait's items."""
    kind = kind_of(item)
    inner = item['inner'][kind] if isinstance(item['inner'], dict) else {}
    out = []
    if kind == 'module':
        out += inner.get('items', [])
    elif kind == 'use':
        if inner.get('id') is not None:
            out.append(inner['id'])
    elif kind == 'struct':
        k = inner.get('kind', {})
        if isinstance(k, dict):
            plain = k.get('plain', {})
            out += [f for f in plain.get('fields', [])]
            tup = k.get('tuple')
            if tup:
                out += [f for f in tup if f is not None]
        out += inner.get('impls', [])
    elif kind in ('enum', 'union'):
        out += inner.get('variants', []) + inner.get('fields', []) + inner.get('impls', [])
    elif kind == 'trait':
        out += inner.get('items', [])
    elif kind == 'impl':
        # inherent impls only: trait impls add no names of their own
        if inner.get('trait') is None and not inner.get('is_synthetic') and inner.get('blanket_impl') is None:
            out += inner.get('items', [])
    return out


def count(crate):
    subprocess.run(['cargo', '+nightly', 'rustdoc', '-q', '-p', crate, '--lib', '--',
                    '-Z', 'unstable-options', '--output-format', 'json'], check=True)
    target = os.environ.get('CARGO_TARGET_DIR', 'target')
    doc = json.load(open(os.path.join(target, 'doc', crate.replace('-', '_') + '.json')))
    index = doc['index']
    root = index[str(doc['root'])]
    seen = set()
    kinds = {}
    stack = [doc['root']]
    while stack:
        i = stack.pop()
        if i in seen or str(i) not in index:
            continue
        seen.add(i)
        item = index[str(i)]
        if item.get('crate_id') != 0:
            continue
        kind = kind_of(item)
        if kind not in SKIP and i != doc['root']:
            kinds[kind] = kinds.get(kind, 0) + 1
        stack += children(item, index)
    named = set()

    def refs(node):
        if isinstance(node, dict):
            rp = node.get('resolved_path')
            if isinstance(rp, dict) and rp.get('id') is not None:
                named.add(rp['id'])
            for v in node.values():
                refs(v)
        elif isinstance(node, list):
            for v in node:
                refs(v)

    for i in seen:
        item = index.get(str(i))
        if item and item.get('crate_id') == 0 and kind_of(item) not in ('module', 'use'):
            refs(item['inner'])
    paths = doc.get('paths', {})
    hidden = sorted('::'.join(paths[str(i)]['path']) for i in named
                    if i not in seen and str(i) in paths and paths[str(i)]['crate_id'] == 0)
    names = []
    for i in kind_of(root) == 'module' and root['inner']['module']['items'] or []:
        item = index.get(str(i))
        if item:
            name = item['name'] or item['inner'].get('use', {}).get('name')
            names.append(name)
    total = sum(kinds.values())
    by_kind = ', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))
    print(f'{crate}: {total} public items ({by_kind})')
    print(f'  root ({len(names)}): {" ".join(sorted(n for n in names if n))}')
    for h in hidden:
        print(f'  named but not documented: {h}')
    return total


def main():
    crates = sys.argv[1:] or CRATES
    total = sum(count(c) for c in crates)
    print(f'total: {total}')


main()
