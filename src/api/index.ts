/**
 * The templates service's REST API: types and client.
 */
export * from './types';
export * from './client';
