#!/usr/bin/env -S node --max-semi-space-size=1
// The flags on the line above are shared/repo-root.ts DP_NODE_FLAGS (why: see there).
// Thin launcher: the compiled dp lives in dist/ (built by scripts/setup.sh).
import '../dist/dp/main.js';
