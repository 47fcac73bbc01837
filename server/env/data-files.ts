// Where an environment keeps its files in its data directory. A module of its own so the CLI can
// find them without loading the environment server.
import { join } from 'node:path';

export const envDatabaseFile = (dataDir: string) => join(dataDir, 'env.sqlite');
export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');
export const envKeyFile = (dataDir: string) => join(dataDir, 'env-key.json');
