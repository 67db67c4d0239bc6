// VigilPipeline
