// VigilCore
