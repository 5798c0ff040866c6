/**
 * The catalog that ships with the project. Every name is fictional; some carry accents and
 * letters like ø or þ so accent-insensitive search has something to find, several titles
 * contain "blue", and one has a literal "%".
 */

export interface SeedAlbum {
  title: string;
  year: number;
  genre: string;
  tracks: readonly string[];
}

export interface SeedArtist {
  name: string;
  albums: readonly SeedAlbum[];
}

export const SEED_CATALOG: readonly SeedArtist[] = [
  {
    name: 'Ólafur Blue',
    albums: [
      {
        title: 'Glacier Hymns',
        year: 2016,
        genre: 'ambient',
        tracks: ['Aurora Drift', 'Meltwater', 'Blue Ice Choir', 'Long Polar Night', 'Þögn'],
      },
      {
        title: 'Fjörður',
        year: 2021,
        genre: 'ambient',
        tracks: ['Tidal Breath', 'Low Sun Over Fjörður', 'Basalt', 'Whalesong Static', 'Søndag Morgen'],
      },
    ],
  },
  {
    name: 'Zoë & the Nightjars',
    albums: [
      {
        title: 'Lanterns on the Moor',
        year: 2014,
        genre: 'folk',
        tracks: [
          "The Ferryman's Daughter",
          'Lanterns on the Moor',
          'Bluebell Wood',
          'Crow Road',
          'Salt and Heather',
          'Winter Wren',
        ],
      },
      {
        title: 'Hedgerow Songs',
        year: 2019,
        genre: 'folk',
        tracks: ['Hedgerow', "Don't Wake the Fox", 'Millstone Reel', 'Apple Cart', 'Song for Élise'],
      },
    ],
  },
  {
    name: 'The Velvet Static',
    albums: [
      {
        title: 'Fuse Box Heart',
        year: 2009,
        genre: 'rock',
        tracks: [
          'Fuse Box Heart',
          'Gasoline Saints',
          'Blue Collar Comet',
          'Static Kiss',
          'Overpass',
          'Radio Ghosts',
        ],
      },
      {
        title: 'Midnight Overdrive',
        year: 2013,
        genre: 'rock',
        tracks: [
          'Midnight Overdrive',
          'Chrome Teeth',
          '50% Chance of Rain',
          'Parking Lot Prophets',
          'Redline',
        ],
      },
    ],
  },
  {
    name: 'Café Lumière Quartet',
    albums: [
      {
        title: 'Rue des Étoiles',
        year: 2011,
        genre: 'jazz',
        tracks: [
          'Rue des Étoiles',
          'Café au Lait Shuffle',
          'Après la Pluie',
          'Pigalle at Dawn',
          'Quai Nocturne',
        ],
      },
      {
        title: 'Blue Hour Sessions',
        year: 2018,
        genre: 'jazz',
        tracks: [
          'Blue Hour',
          'Smoke Rings',
          'Waltz for Hélène',
          'Half Past Blue',
          'Brass Lantern',
          'Late Tram',
        ],
      },
    ],
  },
  {
    name: 'Neon Meridian',
    albums: [
      {
        title: 'Chromatic City',
        year: 2020,
        genre: 'electronic',
        tracks: ['Chromatic City', 'Grid Runner', 'Sodium Lights', 'Night Bus 303', 'Data Rain'],
      },
      {
        title: 'Pulse Archive',
        year: 2023,
        genre: 'electronic',
        tracks: [
          'Pulse Archive',
          'Electric Blue',
          'Subway Oracle',
          'Kilohertz',
          'Afterglow Protocol',
          'Zero Hour',
        ],
      },
    ],
  },
  {
    name: 'Los Días Raros',
    albums: [
      {
        title: 'Canción del Desvelo',
        year: 2015,
        genre: 'folk',
        tracks: ['Canción del Desvelo', 'Niño de Papel', 'La Última Estación', 'Mañana Quizás', 'Río Lento'],
      },
      {
        title: 'Señales',
        year: 2022,
        genre: 'electronic',
        tracks: ['Señales', 'Corazón Digital', 'Ciudad Azul', 'Frecuencia', 'Dónde Estás'],
      },
    ],
  },
];
