/**
 * Jest: the Lab extension's unit tests (src/__tests__), TypeScript through ts-jest,
 * in Node (which has fetch, Response, FormData and Blob).
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
