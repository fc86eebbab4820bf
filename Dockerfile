# syntax=docker/dockerfile:1
#
# jitkey exchanger image.
#
#   docker build -t jitkey:dev .
#   docker run --rm -p 8080:8080 -v "$PWD/policy.yaml:/etc/jitkey/policy.yaml:ro" \
#     -e JITKEY_STORE=postgres://jitkey:…@db:5432/jitkey jitkey:dev
#   docker run --rm -v "$PWD/policy.yaml:/p.yaml:ro" jitkey:dev check --policy /p.yaml
#
# Not built by the tests in this repository (no Docker engine there); see docs/deploy.md.
# Pin NODE_IMAGE by digest (node:20-bookworm-slim@sha256:…) for reproducible builds.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile the exchanger and its native addon (better-sqlite3) ------------------------
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Dependencies first, so source edits do not invalidate this layer.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# .dockerignore is an allow-list: only what `npm run build:exchanger` compiles gets here.
COPY . .
RUN npm run build:exchanger \
 && npm prune --omit=dev --no-audit --no-fund \
 && mkdir -p schema

# ---- runtime: production dependencies + compiled exchanger, no compilers, non-root -------------
FROM ${NODE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 jitkey \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin jitkey
ENV NODE_ENV=production
WORKDIR /app

# Owned by root and not writable by the service user. package.json is needed at run time:
# its "type": "module" makes Node load lib/**/*.js as ES modules.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/lib/exchanger ./lib/exchanger
COPY --from=build /app/bin ./bin
COPY --from=build /app/schema ./schema

# Numeric so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080

# Node runs as PID 1 and handles SIGTERM (drain, ≤25 s, exit 0) and SIGHUP (policy reload)
# itself; it starts no child processes, so no init is needed.
# Probe with node (the slim image has no curl). Assumes the default --port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "lib/exchanger/cli/main.js"]
CMD ["serve", "--policy", "/etc/jitkey/policy.yaml", "--host", "0.0.0.0", "--port", "8080"]
