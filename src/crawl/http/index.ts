/** Safe, polite HTTP for the crawl: the fetcher, the address guard, robots.txt and per-host limits. */
export * from './address-guard.js';
export * from './fetch.js';
export * from './host-limiter.js';
export * from './robots.js';
export * from './x-robots-tag.js';
