#!/usr/bin/env python3
"""Checks that every relative markdown link (file and #anchor) in the given files resolves.

   python3 tools/check_doc_links.py README.md docs/*.md docs/results/*.md benchmarks/README.md examples/*/*.md
"""
import os, re, sys, unicodedata

def anchors(path):
    out, seen = set(), {}
    in_code = False
    for line in open(path, encoding='utf-8'):
        if line.lstrip().startswith('```'):
            in_code = not in_code
            continue
        if in_code: continue
        m = re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
        if not m: continue
        text = re.sub(r'`', '', m.group(2))
        text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
        slug = ''.join(c for c in text.lower() if c.isalnum() or c in ' -_' or unicodedata.category(c).startswith('L'))
        slug = slug.replace(' ', '-')
        n = seen.get(slug, 0); seen[slug] = n + 1
        out.add(slug if n == 0 else f'{slug}-{n}')
    return out

bad = 0
for f in sys.argv[1:]:
    text = open(f, encoding='utf-8').read()
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'^[a-z]+:', target): continue
        path, _, frag = target.partition('#')
        full = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(full):
            print(f'{f}: missing file {target}'); bad += 1; continue
        if frag and full.endswith('.md') and frag not in anchors(full):
            print(f'{f}: missing anchor {target}'); bad += 1
print(f'{bad} broken link(s)')
sys.exit(1 if bad else 0)
