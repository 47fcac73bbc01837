// The mint protocol both the relay and the environment import: one entry point over its three parts.
export * from './mint-jws';
export * from './mint-request';
export * from './mint-response';
