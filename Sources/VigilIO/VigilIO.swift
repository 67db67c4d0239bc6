// VigilIO
