"""The networks and what is saved of them.

    unet          the paper's U-Net and the U-Net over a pretrained encoder
    encoders/     EfficientNet-Lite0 and its ImageNet weights, read without
                  PyTorch
    losses        training losses, by name
    metrics       Dice, IoU and pixel accuracy
    saving        .keras files that load without catunet's code in scope
"""
