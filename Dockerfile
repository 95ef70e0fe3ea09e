# Gatehouse container image: multi-stage, production dependencies only, non-root, with a health check.
#   docker build -t gatehouse .
#   docker run -p 9090:9090 -v gatehouse-data:/app/data -e GATEHOUSE_ADMIN_KEY=... gatehouse

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# package.json's preinstall runs the Node.js version check.
COPY bin/node-version.cjs ./bin/
# Prebuilt binaries only (better-sqlite3, @node-rs/argon2): nothing compiles.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY protocols ./protocols
COPY migrations ./migrations
COPY config ./config
# The store and the generated key file are the server user's alone (docs/operations.md).
RUN mkdir -p /app/data && chown -R node:node /app/data && chmod 700 /app/data
USER node
# The demo config listens on loopback unless GATEHOUSE_HTTP_HOST says otherwise; a container must listen on all interfaces.
ENV GATEHOUSE_HTTP_HOST=0.0.0.0 GATEHOUSE_LDAP_HOST=0.0.0.0
ENV GATEHOUSE_CONFIG=/app/config/gatehouse.yaml
EXPOSE 9090 3389
VOLUME ["/app/data"]
# The health check asks /readyz on the HTTP listener. A configuration that moves /readyz to a
# management listener (server.management) or the HTTP listener to another port says where with
# GATEHOUSE_HEALTHCHECK_URL, e.g. -e GATEHOUSE_HEALTHCHECK_URL=http://127.0.0.1:9091/readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch(process.env.GATEHOUSE_HEALTHCHECK_URL || 'http://127.0.0.1:9090/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/gatehouse.js"]
CMD ["start"]
