import type { Artist, CatalogContract } from '../../common/contracts/index.js';
import type { Caller, ServiceClient } from '../../common/index.js';
import { artist, artistFolder, artistIndex, type Marks } from './models.js';
import { type Body, renderOnce } from './response.js';

type Shape = 'id3' | 'folder';
const SHAPES: Record<Shape, (a: Artist, marks: Marks) => Body> = { id3: artist, folder: artistFolder };
const NO_MARKS: Marks = {
  starred: { songs: new Map(), albums: new Map(), artists: new Map() },
  rated: { songs: new Map(), albums: new Map(), artists: new Map() },
};

/** Versions kept: one per set of libraries callers see, and a few more. */
const VERSIONS_KEPT = 16;

/**
 * The artist index (`getArtists`, `getIndexes`: every artist of a 20,000-artist library),
 * fetched and rendered once per catalog version (and set of libraries seen) rather than per
 * call, down to its JSON and XML text (response.ts `renderOnce`): a call asks the catalog its version (one row) and marks the cached answer with the caller's stars and ratings,
 * copying only the artists they marked.
 */
export class ArtistIndexCache {
  /** Rendered shapes by the version the catalog gave (it names the libraries the caller sees). */
  private readonly rendered = new Map<string, Map<Shape, Promise<Body[]>>>();

  constructor(private readonly catalog: ServiceClient<CatalogContract>) {}

  /** The index as the caller sees it (the libraries they see), of one library when `library` is given. */
  async index(
    shape: Shape,
    marks: Marks,
    { caller, library }: { caller?: Caller; library?: number | undefined } = {},
  ): Promise<Body[]> {
    // Every Subsonic call has a caller; the address only tells the catalog a client asks.
    const catalog = this.catalog.actingFor(caller, 'subsonic');
    const { version } = await catalog.call('version', { library });
    const key = `${version}/${library ?? ''}`;
    let rendered = this.rendered.get(key);
    if (!rendered) {
      rendered = new Map();
      this.rendered.set(key, rendered);
      while (this.rendered.size > VERSIONS_KEPT) this.rendered.delete(this.rendered.keys().next().value!);
    }
    let bodies = rendered.get(shape);
    if (!bodies) {
      bodies = catalog
        .call('artistIndex', { library })
        // Rendered to text once too, as a whole and group by group (a caller's marks copy only their groups).
        .then((groups) => renderOnce(artistIndex(groups, (a) => SHAPES[shape](a, NO_MARKS)).map(renderOnce)));
      rendered.set(shape, bodies);
      // A failed fetch is not kept: the next call tries again.
      bodies.catch(() => rendered.delete(shape));
    }
    const groups = await bodies;
    const marked = (id: string) => marks.starred.artists.has(id) || marks.rated.artists.has(id);
    if (![...marks.starred.artists.keys(), ...marks.rated.artists.keys()].length) return groups;
    return groups.map((g) => {
      const artists = g.artist as Body[];
      if (!artists.some((a) => marked(a.id as string))) return g;
      return {
        ...g,
        artist: artists.map((a) =>
          marked(a.id as string)
            ? {
                ...a,
                starred: marks.starred.artists.get(a.id as string),
                userRating: marks.rated.artists.get(a.id as string),
              }
            : a,
        ),
      };
    });
  }
}
