import type { Artist, CatalogContract } from '../../common/contracts/catalog.js';
import type { ServiceClient } from '../../common/rpc/client.js';
import { artist, artistFolder, artistIndex, type Marks } from './models.js';
import type { Body } from './response.js';

type Shape = 'id3' | 'folder';
const SHAPES: Record<Shape, (a: Artist, marks: Marks) => Body> = { id3: artist, folder: artistFolder };
const NO_MARKS: Marks = {
  starred: { songs: new Map(), albums: new Map(), artists: new Map() },
  rated: { songs: new Map(), albums: new Map(), artists: new Map() },
};

interface Rendered {
  version: string;
  shapes: Map<Shape, Promise<Body[]>>;
}

/**
 * The artist index (`getArtists`, `getIndexes`: every artist of a 20,000-artist library),
 * fetched and rendered once per catalog version rather than per call: a call asks the catalog
 * its version (one row) and marks the cached answer with the caller's stars and ratings,
 * copying only the artists they marked.
 */
export class ArtistIndexCache {
  private rendered: Rendered | null = null;

  constructor(private readonly catalog: ServiceClient<CatalogContract>) {}

  async index(shape: Shape, marks: Marks): Promise<Body[]> {
    const { version } = await this.catalog.call('version', {});
    if (this.rendered?.version !== version) this.rendered = { version, shapes: new Map() };
    const rendered = this.rendered;
    let bodies = rendered.shapes.get(shape);
    if (!bodies) {
      bodies = this.catalog
        .call('artistIndex', {})
        .then((groups) => artistIndex(groups, (a) => SHAPES[shape](a, NO_MARKS)));
      rendered.shapes.set(shape, bodies);
      // A failed fetch is not kept: the next call tries again.
      bodies.catch(() => rendered.shapes.delete(shape));
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
