# One image for the gateway, every service and the setup steps; the command picks what runs:
#   scripts/run.sh gateway/main | scripts/run.sh scripts/service <name> | scripts/run.sh scripts/migrate ...
# The compiled code (dist/, built here with the web player), as ./start.sh runs it.
FROM node:20-bookworm-slim
# ffmpeg: the gateway transcodes streams with it (without it, files go out as they are).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
ENV MEDIA_DIR=/app/data/media
# scripts/run.sh execs node (no npm in between), so SIGTERM reaches the process that shuts down gracefully.
CMD ["scripts/run.sh", "gateway/main"]
