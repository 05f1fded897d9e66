/**
 * The demo's planted-noise file: among the crawled pairs, those its site captioned wrongly on purpose
 * (swapped names, junk alt text) and the rest, and how many of each the filter dropped. The demo
 * writes it into the filter's output folder; the report's filter section shows it when present.
 */
export const PLANTED_NOISE_FILE = 'planted_noise.json';

export interface PlantedNoise {
  noisy_pairs: number;
  noisy_dropped: number;
  clean_pairs: number;
  clean_dropped: number;
}
