#!/usr/bin/env node
// Thin launcher: the compiled dp lives in dist/ (built by scripts/setup.sh).
import '../dist/dp/main.js';
