using Microsoft.ML.Data;
using Microsoft.ML.Mamba.MLNet;
using Microsoft.ML.Mamba.Modeling;

namespace Microsoft.ML.Mamba.Tests.MLNet;

/// <summary>One small multiclass model trained once and shared by the tests of a class (training is the slow part).</summary>
public sealed class TrainedTopicModel : IDisposable
{
    public TrainedTopicModel()
    {
        MLContext = new MLContext(seed: 1);
        Train = MLContext.Data.LoadFromEnumerable(TopicRows.Make(240, seed: 1));
        Test = MLContext.Data.LoadFromEnumerable(TopicRows.Make(90, seed: 2));
        Pipeline = MLContext.Transforms.Conversion.MapValueToKey("Label", nameof(TopicRow.Topic))
            .Append(MLContext.MulticlassClassification.Trainers.Mamba(Options()));
        Model = Pipeline.Fit(Train);
        // For reading predictions as topic names (Evaluate needs the key, so this is a separate chain).
        var keyToValue = MLContext.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(Model.Transform(Train));
        ModelWithNames = ((TransformerChain<MambaTransformer>)Model).Append(keyToValue);
    }

    public static MambaTrainerOptions Options() => new()
    {
        TextColumnNames = [nameof(TopicRow.Text)],
        NumberOfEpochs = 3,
        BatchSize = 16,
        LearningRate = 3e-3,
        MaxSequenceLength = 64,
        Pooling = SequencePooling.Mean,
        NetworkConfig = TinyNetwork(),
    };

    /// <summary>One narrow layer: enough for keyword topics, fast on a shared 2-core machine.</summary>
    public static MambaConfig TinyNetwork() => new() { HiddenSize = 32, StateSize = 4, NumHiddenLayers = 1, Expand = 2, ConvKernel = 4 };

    public MLContext MLContext { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public IEstimator<ITransformer> Pipeline { get; }
    /// <summary>MapValueToKey then the Mamba transformer (PredictedLabel is a key).</summary>
    public ITransformer Model { get; }
    /// <summary><see cref="Model"/> followed by MapKeyToValue (PredictedLabel is the topic name).</summary>
    public ITransformer ModelWithNames { get; }
    public MambaTransformer Mamba => ((TransformerChain<MambaTransformer>)Model).LastTransformer;

    public void Dispose() { }
}
