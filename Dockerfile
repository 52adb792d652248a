# syntax=docker/dockerfile:1
# One image for both roles: `tandem serve` (the control plane, default command)
# and the injected `istio-init` init container (`tandem iptables`, which needs the
# iptables binaries and runs as root with NET_ADMIN/NET_RAW set by the template).
#
# Build:  docker build -t ghcr.io/tandem-mesh/tandem:0.1.0 .
# Bump the base tag deliberately (and pin its digest in release builds).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so source edits reuse this layer. Scripts are skipped here
# because `prepare` compiles sources that are not copied yet; no dependency
# needs an install script (no native addons).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="tandem" \
      org.opencontainers.image.description="Injection-first service mesh: Istio-compatible sidecar injection, traffic capture, xDS" \
      org.opencontainers.image.source="https://github.com/tandem-mesh/tandem" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# `tandem iptables` in the init container: iptables brings iptables-restore and
# ip6tables-restore (nft and legacy backends); iproute2's `ip` sets up the TPROXY
# routing rules and the IPv6 loopback address.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 tandem \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tandem
ENV NODE_ENV=production
WORKDIR /app
# Sources, the compiled dist/, templates/ and the production node_modules, owned
# by root so the non-root process cannot rewrite its own code.
COPY --from=build /app /app
# The injected istio-init container runs `tandem iptables` by command name.
RUN ln -s /app/bin/tandem /usr/local/bin/tandem
# The control plane runs unprivileged; the init container overrides the user to 0
# in its securityContext, as Istio's does.
USER 65532:65532
EXPOSE 15010 15014 15017
ENTRYPOINT ["node", "/app/bin/tandem"]
CMD ["serve"]
