using System.Text.Json.Nodes;
using Microsoft.ML.Mamba.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Mamba.MLNet;

/// <summary>
/// Writes and reads a sequence-classification network as a folder: config.json (the Hugging Face fields plus
/// num_labels and pooling) and the weights in TorchSharp's format. This is what goes into the ML.NET model zip.
/// </summary>
internal static class MambaNetworkFiles
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.torchsharp.bin";

    public static void Save(MambaForSequenceClassification network, string directory)
    {
        Directory.CreateDirectory(directory);
        var config = JsonNode.Parse(network.Config.ToJson())!.AsObject();
        config[MambaForSequenceClassification.NumLabelsKey] = network.NumLabels;
        config[MambaForSequenceClassification.PoolingKey] = network.Pooling.ToString();
        File.WriteAllText(Path.Combine(directory, ConfigFile), config.ToJsonString());
        network.save(Path.Combine(directory, WeightsFile));
    }

    public static MambaForSequenceClassification Load(string directory, int numLabels, SequencePooling pooling, Device device)
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new InvalidDataException($"A saved Mamba network needs {ConfigFile} and {WeightsFile}.");
        var config = MambaConfig.Load(configPath);
        var network = new MambaForSequenceClassification(config, numLabels, pooling);
        network.load(weightsPath, strict: true);
        network.to(device);
        return network;
    }
}
