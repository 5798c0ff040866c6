import { NotFoundError } from '../../common/index.js';
import { clientAddressOf } from '../auth.js';
import { catalogCoverColor, MAX_COVER_SIZE, sendCover } from '../covers.js';
import { queryInt } from '../http.js';
import type { RouteContext } from './context.js';

/**
 * The generated cover of an album or artist (`al-<id>`, `ar-<id>`, or an album's or track's
 * own id), `size` pixels square (300 by default). Public like the catalog: players load the
 * image URLs of Subsonic's artist and album info without credentials.
 */
export function coverRoutes({ router, services, covers }: RouteContext): void {
  router.get('/api/covers/:id', async (req, res) => {
    const size = queryInt(req, 'size', 1, MAX_COVER_SIZE) ?? 300;
    const color = await catalogCoverColor(
      services.catalog.actingFor(res.locals.caller, clientAddressOf(req)),
      req.params.id,
    );
    if (!color) throw new NotFoundError(`no cover ${req.params.id}`);
    await sendCover(res, covers, color, size);
  });
}
