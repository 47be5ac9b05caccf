# Image for every role: `smc-agent serve <role>` (see deploy/k8s). Built from the locked environment.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci
COPY web ./
RUN npm run build

FROM python:3.11-slim
# postgresql-client: pg_dump/pg_restore (backups); net-tools: the playbook's `kubectl exec ... -- netstat -tulpn`
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client net-tools && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home smc
COPY --from=build /app/.venv /app/.venv
COPY --from=web /src/smc_agent/api/static/dist /app/.venv/lib/python3.11/site-packages/smc_agent/api/static/dist
ENV PATH="/app/.venv/bin:$PATH" SMC_LOG_FORMAT=json
USER 10001
ENTRYPOINT ["smc-agent"]
