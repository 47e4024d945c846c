"""From a folder of labelled photos to a model.

    config        TrainConfig: one checked field per ``catunet train`` flag
    recipes       named recipes (quick, encoder, paper)
    train         one resumable training run into its run folder
    selftrain     pseudo-masks on unlabelled photos, students
    ensemble      one model whose output averages several models
    transfer      weights copied between models by layer name (--init)
    checkpoint    a checkpoint every epoch, written atomically
    distribute    tf.distribute strategies (--strategy)
    provenance    run.json: the run's key, machine and packages
    machine       what this CPU can do (--precision auto)
"""
