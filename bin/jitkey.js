#!/usr/bin/env node
// The published command: the compiled CLI lives in lib/ (`npm run build:exchanger`).
import '../lib/exchanger/cli/main.js';
