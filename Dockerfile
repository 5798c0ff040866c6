# One image for the gateway, every service and the setup steps; the command picks what runs:
#   node --import tsx gateway/main.ts | node --import tsx scripts/service.ts <name> | scripts/migrate.ts ...
# TypeScript runs through tsx, as on a developer's machine; only the web player is built.
FROM node:20-bookworm-slim
# ffmpeg: the gateway transcodes streams with it (without it, files go out as they are).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web
ENV MEDIA_DIR=/app/data/media
# Run node itself (not npm or the tsx wrapper) so SIGTERM reaches the process that shuts down gracefully.
CMD ["node", "--import", "tsx", "gateway/main.ts"]
